package dev.tandem.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.publisher.TandemClientConfig;
import dev.tandem.publisher.TandemProducerConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.io.StringReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.regex.Pattern;
import org.apache.kafka.common.config.ConfigDef;
import org.junit.jupiter.api.Assertions;
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

  private static final Pattern PROPERTY_LINE = Pattern.compile("[a-z][A-Za-z0-9_.<>-]*=.*");

  /**
   * The fenced blocks of {@code readme} that are properties text: every line blank, a comment, or
   * {@code key=value}.
   */
  static List<String> propertiesBlocks(Path readme) throws Exception {
    List<String> blocks = new ArrayList<>();
    String[] lines = Files.readString(readme, StandardCharsets.UTF_8).split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      if (!lines[i].startsWith("```")) {
        continue;
      }
      StringBuilder block = new StringBuilder();
      boolean properties = true;
      int j = i + 1;
      for (; j < lines.length && !lines[j].startsWith("```"); j++) {
        String l = lines[j].strip();
        properties &= l.isEmpty() || l.startsWith("#") || PROPERTY_LINE.matcher(l).matches();
        block.append(lines[j]).append('\n');
      }
      if (properties && block.length() > 0) {
        blocks.add(block.toString());
      }
      i = j;
    }
    return blocks;
  }

  static Properties load(String block) throws Exception {
    Properties p = new Properties();
    p.load(new StringReader(block));
    return p;
  }

  /**
   * java.util.Properties has no end-of-line comments: "{@code key=value   # note}" makes the note part
   * of the value. No properties snippet of the READMEs may carry one.
   */
  @Test
  void noPropertiesSnippetOfTheReadmesHasACommentAtALineEnd() throws Exception {
    int blocks = 0;
    for (Path readme : List.of(Path.of("README.md"), Path.of("..", "README.md"),
        Path.of("..", "publisher", "README.md"))) {
      for (String block : propertiesBlocks(readme)) {
        blocks++;
        load(block).forEach((k, v) -> Assertions.assertFalse(v.toString().contains("#"),
            readme + ": the value of " + k + " holds a comment: '" + v + "'"));
      }
    }
    assertTrue(blocks >= 3, "the READMEs' properties snippets were found: " + blocks);
  }

  /** The interceptor's snippets are valid interceptor configurations (its own keys included). */
  @Test
  void theInterceptorSnippetsAreValidInterceptorConfigurations() throws Exception {
    int checked = 0;
    for (Path readme : List.of(Path.of("README.md"), Path.of("..", "README.md"))) {
      for (String block : propertiesBlocks(readme)) {
        Properties p = load(block);
        if (String.valueOf(p.get("interceptor.classes")).contains("TandemConsumerInterceptor")) {
          new dev.tandem.consumer.kafka.TandemInterceptorConfig(p); // throws naming the key
          checked++;
        }
      }
    }
    assertTrue(checked >= 2, "interceptor snippets checked: " + checked);
  }

  /** The snippets users copy are valid configurations, read the way the library reads a file. */
  @Test
  void theReadmeSnippetsAreValidConfigurations() throws Exception {
    int region = 0;
    int producer = 0;
    for (Path readme : List.of(Path.of("..", "README.md"), Path.of("..", "publisher", "README.md"))) {
      for (String block : propertiesBlocks(readme)) {
        Properties p = load(block);
        if (p.containsKey(TandemRegionConfig.STATE_DIR_CONFIG)) {
          new TandemRegionConfig(p); // throws a ConfigException naming the key
          region++;
        } else if (p.containsKey(TandemProducerConfig.SPOOL_DIR_CONFIG)) {
          new TandemProducerConfig(p);
          producer++;
        }
      }
    }
    assertTrue(region >= 1 && producer >= 1, "snippets checked: region " + region + ", producer "
        + producer);
  }
}
