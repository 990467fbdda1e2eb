package dev.tandem.spring.autoconfigure;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.TandemRegionConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.BindHandler;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.bind.handler.NoUnboundElementsBindHandler;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.boot.context.properties.source.UnboundElementsSourceFilter;
import org.springframework.boot.env.YamlPropertySourceLoader;
import org.springframework.core.env.PropertySource;
import org.springframework.core.env.StandardEnvironment;
import org.springframework.core.io.ByteArrayResource;

/**
 * The application.yml snippets of the root README's "Spring Boot" section and of this module's
 * README are what a newcomer copies: each one (its files laid over each other, as Spring does with a
 * profile's file) binds to a region configuration {@link TandemRegionConfig} accepts, and gives the
 * README's {@code @KafkaListener(topics = "orders")} (no {@code groupId}) a consumer group — without
 * one Spring Kafka refuses to start the listener ("No group.id found in consumer config"), which is
 * what an app written from the root README's snippet alone did.
 */
class ReadmeYamlSnippetsTest {

  @Test
  void theRootReadmeSpringSnippetStartsAListener() throws Exception {
    List<String> files = yamlFiles(Path.of("..", "README.md"));
    assertFalse(files.isEmpty(), "the root README has a yaml snippet");
    checkRunnable(files, "README.md");
  }

  @Test
  void theStarterReadmeSnippetStartsAListener() throws Exception {
    List<String> files = yamlFiles(Path.of("README.md"));
    assertTrue(files.size() >= 2, "application.yml and application-region-a.yml: " + files.size());
    checkRunnable(files, "spring-boot-starter/README.md");
  }

  private static void checkRunnable(List<String> files, String readme) throws Exception {
    StandardEnvironment env = new StandardEnvironment();
    int n = 0;
    for (String yaml : files) {
      for (PropertySource<?> s : new YamlPropertySourceLoader().load(readme + "#" + n++,
          new ByteArrayResource(yaml.getBytes(StandardCharsets.UTF_8)))) {
        env.getPropertySources().addFirst(s); // a later file (the profile's) wins, as in Spring
      }
    }
    Binder binder = new Binder(ConfigurationPropertySources.get(env));
    // unknown tandem.* keys fail, as TandemProperties (ignoreUnknownFields = false) makes them fail
    // with Boot's own source filter: environment variables and system properties are not checked for
    // unbound keys (CI exports TANDEM_AZURITE_BLOB, which relaxed binding reads as tandem.azurite.blob;
    // an application started there binds the same way)
    TandemProperties p = binder.bind("tandem", Bindable.of(TandemProperties.class),
        new NoUnboundElementsBindHandler(BindHandler.DEFAULT, new UnboundElementsSourceFilter())).get();
    new TandemRegionConfig(TandemPropertyKeys.regionConfig(p)); // throws naming the key
    String group = binder.bind("spring.kafka.consumer.group-id", String.class).orElse("");
    assertFalse(group.isBlank(), readme + ": its application.yml gives a @KafkaListener without "
        + "groupId no consumer group (spring.kafka.consumer.group-id); Spring Kafka refuses to start it");
  }

  /**
   * The ```yaml blocks of a README, each split into its files at a comment line naming one
   * ({@code # application.yml}, {@code # application-region-a.yml ...}).
   */
  static List<String> yamlFiles(Path readme) throws Exception {
    List<String> files = new ArrayList<>();
    String[] lines = Files.readString(readme, StandardCharsets.UTF_8).split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      if (!lines[i].strip().equals("```yaml")) {
        continue;
      }
      StringBuilder file = new StringBuilder();
      int j = i + 1;
      for (; j < lines.length && !lines[j].startsWith("```"); j++) {
        if (lines[j].startsWith("# application") && file.toString().strip().length() > 0) {
          files.add(file.toString());
          file.setLength(0);
        }
        file.append(lines[j]).append('\n');
      }
      files.add(file.toString());
      i = j;
    }
    return files;
  }
}
