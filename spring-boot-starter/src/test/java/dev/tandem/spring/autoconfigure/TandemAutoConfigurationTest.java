package dev.tandem.spring.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mockito.Mockito.mock;

import dev.tandem.consumer.TandemRegion;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.kafka.core.DefaultKafkaProducerFactory;
import org.springframework.kafka.core.ProducerFactory;

/** Conditions and back-off of the auto-configuration, without Kafka. */
class TandemAutoConfigurationTest {

  final ApplicationContextRunner runner = new ApplicationContextRunner()
      .withConfiguration(AutoConfigurations.of(TandemAutoConfiguration.class));

  @Configuration(proxyBeanMethods = false)
  static class UserBeans {
    static final TandemRegion REGION = mock(TandemRegion.class);

    @Bean
    TandemRegion myRegion() {
      return REGION;
    }

    @Bean
    ProducerFactory<Object, Object> myProducerFactory() {
      return new DefaultKafkaProducerFactory<>(java.util.Map.of("bootstrap.servers", "x:1"));
    }
  }

  @Test
  void withoutTandemRegionNothingIsConfigured() {
    runner.run(c -> {
      assertThat(c).doesNotHaveBean(TandemRegion.class);
      assertThat(c).doesNotHaveBean(TandemProducerFactory.class);
    });
  }

  @Test
  void theApplicationsOwnBeansWin() {
    runner.withUserConfiguration(UserBeans.class)
        .withPropertyValues("tandem.region=a", "tandem.regions.a.bootstrap.servers=x:1")
        .run(c -> {
          assertThat(c).hasNotFailed();
          assertThat(c).getBean(TandemRegion.class).isSameAs(UserBeans.REGION);
          assertThat(c).hasSingleBean(ProducerFactory.class);
          assertThat(c).doesNotHaveBean(TandemProducerFactory.class);
        });
  }

  @Test
  void aTransactionIdPrefixIsRefusedNamingTheProperty() {
    runner.withBean(TandemRegion.class, () -> mock(TandemRegion.class))
        .withPropertyValues("tandem.region=a", "tandem.regions.a.bootstrap.servers=x:1",
            "tandem.state.dir=/tmp/x", "spring.kafka.producer.transaction-id-prefix=tx-")
        .run(c -> {
          assertThat(c).hasFailed();
          assertThat(c.getStartupFailure()).rootCause()
              .hasMessageContaining("does not support transactions")
              .hasMessageContaining("spring.kafka.producer.transaction-id-prefix=tx-");
        });
  }
}
