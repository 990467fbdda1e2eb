package dev.tandem.spring.kafka;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.springframework.kafka.config.ConcurrentKafkaListenerContainerFactory;
import org.springframework.kafka.core.DefaultKafkaConsumerFactory;
import org.springframework.kafka.listener.ContainerProperties.AckMode;
import org.springframework.kafka.listener.DefaultErrorHandler;
import org.springframework.kafka.transaction.KafkaTransactionManager;
import org.springframework.kafka.core.DefaultKafkaProducerFactory;

/** Start-up refusal of the factory settings that would break the guarantee (no cluster needed). */
class TandemListenerSettingsTest {

  private static ConcurrentKafkaListenerContainerFactory<String, String> factory(
      Map<String, Object> extra) {
    Map<String, Object> p = new HashMap<>();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, "localhost:1");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
    p.putAll(extra);
    ConcurrentKafkaListenerContainerFactory<String, String> f =
        new ConcurrentKafkaListenerContainerFactory<>();
    f.setConsumerFactory(new DefaultKafkaConsumerFactory<>(p));
    return f;
  }

  private static void refused(ConcurrentKafkaListenerContainerFactory<?, ?> f, String naming) {
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> TandemListenerContainers.checkFactory(f));
    assertTrue(e.getMessage().contains(naming), "names " + naming + ": " + e.getMessage());
  }

  @Test
  void defaultBootFactoryPasses() {
    assertDoesNotThrow(() -> TandemListenerContainers.checkFactory(factory(Map.of())));
    var f = factory(Map.of());
    f.getContainerProperties().setAckMode(AckMode.RECORD);
    assertDoesNotThrow(() -> TandemListenerContainers.checkFactory(f));
  }

  @Test
  void autoCommitIsRefusedNamingTheKey() {
    refused(factory(Map.of(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true")), "enable.auto.commit");
    var f = factory(Map.of());
    f.getContainerProperties().getKafkaConsumerProperties()
        .setProperty(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true");
    refused(f, "enable.auto.commit");
  }

  @Test
  void manualAckModesAreRefused() {
    for (AckMode m : new AckMode[] {AckMode.MANUAL, AckMode.MANUAL_IMMEDIATE}) {
      var f = factory(Map.of());
      f.getContainerProperties().setAckMode(m);
      refused(f, "AckMode " + m);
    }
  }

  @Test
  void aUserErrorHandlerIsRefused() {
    var f = factory(Map.of());
    f.setCommonErrorHandler(new DefaultErrorHandler());
    refused(f, "CommonErrorHandler");
  }

  @Test
  void aTransactionManagerIsRefused() {
    var f = factory(Map.of());
    DefaultKafkaProducerFactory<Object, Object> pf = new DefaultKafkaProducerFactory<>(Map.of(
        "bootstrap.servers", "localhost:1"));
    pf.setTransactionIdPrefix("tx-");
    f.getContainerProperties().setKafkaAwareTransactionManager(new KafkaTransactionManager<>(pf));
    refused(f, "transaction manager");
  }

  @Test
  void aConsumerFactoryThatIsNotTheDefaultIsRefused() {
    var f = new ConcurrentKafkaListenerContainerFactory<String, String>();
    refused(f, "DefaultKafkaConsumerFactory");
  }

  @Test
  void autoCreatedTopicsAreRefusedNamingTheKey() {
    // a topic created by a consumer gets the broker's partition count, not tandem.shards
    refused(factory(Map.of(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "true")),
        "allow.auto.create.topics");
    var f = factory(Map.of());
    f.getContainerProperties().getKafkaConsumerProperties()
        .setProperty(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "true");
    refused(f, "allow.auto.create.topics");
  }

  @Test
  void listenerConsumersNeverCreateTopicsByDefault() {
    var f = factory(Map.of());
    var cf = (DefaultKafkaConsumerFactory<?, ?>) f.getConsumerFactory();
    TandemListenerContainers.noAutoCreate(cf);
    assertEquals("false", String.valueOf(
        cf.getConfigurationProperties().get(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG)));
  }
}
