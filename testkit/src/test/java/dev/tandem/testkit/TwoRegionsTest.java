package dev.tandem.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class TwoRegionsTest {

  static TwoRegions regions;

  @BeforeAll
  static void start() {
    regions = TwoRegions.start();
  }

  @AfterAll
  static void stop() {
    long t0 = System.nanoTime();
    regions.close();
    // the figure CI's time depends on (about 40 classes close a pair each)
    System.out.printf("TwoRegions.close: %d ms%n", (System.nanoTime() - t0) / 1_000_000);
  }

  @Test
  void eachRegionIsItsOwnClusterAndSurvivesABrokerRestart() throws Exception {
    regions.createTopic("t", 2);
    send(regions.a(), "in-a");
    send(regions.b(), "in-b");
    assertEquals(List.of("in-a"), readAll(regions.a(), "g1", 1));
    assertEquals(List.of("in-b"), readAll(regions.b(), "g1", 1));

    regions.b().stopBroker();
    assertFalse(regions.b().isBrokerUp());
    regions.b().startBroker();
    assertTrue(regions.b().isBrokerUp());
    send(regions.b(), "after-restart");
    assertEquals(List.of("in-b", "after-restart"), readAll(regions.b(), "g2", 2));
  }

  private static void send(KafkaRegion region, String value) throws Exception {
    try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(region.producerProperties())) {
      p.send(new ProducerRecord<>("t", 0, value, value.getBytes())).get(30, TimeUnit.SECONDS);
    }
  }

  private static List<String> readAll(KafkaRegion region, String group, int expected) {
    List<String> out = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(region.consumerProperties(group))) {
      c.subscribe(List.of("t"));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (out.size() < expected && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          out.add(r.key());
        }
      }
    }
    return out;
  }
}
