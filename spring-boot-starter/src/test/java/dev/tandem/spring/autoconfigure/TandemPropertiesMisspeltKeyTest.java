package dev.tandem.spring.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Configuration;

/**
 * A misspelt {@code tandem.*} key in application.yml fails the start naming it, as the same mistake
 * in a region's properties file fails {@code TandemRegion.create} (a {@code ConfigException} naming
 * the key). It was ignored: {@code tandem.shardz: 4} or {@code tandem.lease.timout: 5s} started the
 * application with the defaults, silently.
 */
class TandemPropertiesMisspeltKeyTest {

  @Configuration(proxyBeanMethods = false)
  @EnableConfigurationProperties(TandemProperties.class)
  static class Bind {}

  final ApplicationContextRunner runner = new ApplicationContextRunner()
      .withUserConfiguration(Bind.class)
      .withPropertyValues("tandem.region=a", "tandem.shards=4", "tandem.regions.a.bootstrap.servers=x:1",
          "tandem.regions.b.bootstrap.servers=y:1");

  @Test
  void aMisspeltTopLevelKeyFailsTheStartNamingIt() {
    runner.withPropertyValues("tandem.shardz=4").run(context -> {
      assertThat(context).hasFailed();
      assertThat(rootMessages(context.getStartupFailure())).contains("tandem.shardz");
    });
  }

  @Test
  void aMisspeltNestedKeyFailsTheStartNamingIt() {
    runner.withPropertyValues("tandem.lease.timout=5s").run(context -> {
      assertThat(context).hasFailed();
      assertThat(rootMessages(context.getStartupFailure())).contains("tandem.lease.timout");
    });
  }

  /** The keys that take any Kafka client key (maps) still do. */
  @Test
  void declaredKeysAndTheKafkaClientMapsBind() {
    runner.withPropertyValues("tandem.lease.timeout=5s", "tandem.regions.a.security.protocol=PLAINTEXT",
        "tandem.consumer.max.poll.records=200", "tandem.witness.client.security.protocol=PLAINTEXT")
        .run(context -> {
          assertThat(context).hasNotFailed();
          TandemProperties p = context.getBean(TandemProperties.class);
          assertThat(p.getConsumer()).containsEntry("max.poll.records", "200");
        });
  }

  private static String rootMessages(Throwable t) {
    StringBuilder sb = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      sb.append(c.getMessage()).append('\n');
    }
    return sb.toString();
  }
}
