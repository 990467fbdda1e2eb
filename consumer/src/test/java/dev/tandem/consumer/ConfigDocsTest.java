package dev.tandem.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.publisher.TandemClientConfig;
import dev.tandem.publisher.TandemProducerConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.kafka.common.config.ConfigDef;
import org.junit.jupiter.api.Test;

/**
 * The key tables in consumer/README.md and publisher/README.md are generated from the {@link
 * ConfigDef}s and must be current. To regenerate them: {@code mvn -pl consumer -am test
 * -Dtest=ConfigDocsTest -Dsurefire.failIfNoSpecifiedTests=false -Dtandem.docs.write=true}.
 */
class ConfigDocsTest {

  static final String BEGIN = "<!-- generated from %s.configDef(): begin -->";
  static final String END = "<!-- generated from %s.configDef(): end -->";

  @Test
  void theRegionKeyTableInConsumerReadmeIsCurrent() throws Exception {
    check(Path.of("README.md"), "TandemRegionConfig", TandemRegionConfig.configDef());
  }

  @Test
  void theProducerKeyTableInPublisherReadmeIsCurrent() throws Exception {
    check(Path.of("..", "publisher", "README.md"), "TandemProducerConfig",
        TandemProducerConfig.configDef());
  }

  /** The interceptor's own keys (the region's keys are the table above it). */
  @Test
  void theInterceptorKeyTableInConsumerReadmeIsCurrent() throws Exception {
    check(Path.of("README.md"), "TandemInterceptorConfig",
        dev.tandem.consumer.kafka.TandemInterceptorConfig.ownConfigDef());
  }

  private static void check(Path readme, String name, ConfigDef def) throws Exception {
    String text = Files.readString(readme, StandardCharsets.UTF_8);
    String begin = String.format(BEGIN, name);
    String end = String.format(END, name);
    int b = text.indexOf(begin);
    int e = text.indexOf(end);
    assertTrue(b >= 0 && e > b, readme + " has no generated table between " + begin + " and " + end);
    String current = text.substring(b + begin.length(), e);
    String generated = "\n" + TandemClientConfig.markdownTable(def);
    if (Boolean.getBoolean("tandem.docs.write") && !current.equals(generated)) {
      Files.writeString(readme, text.substring(0, b + begin.length()) + generated + text.substring(e),
          StandardCharsets.UTF_8);
      return;
    }
    assertEquals(generated, current, readme + ": the key table is stale; regenerate it with "
        + "-Dtandem.docs.write=true (see this test's comment)");
  }
}
