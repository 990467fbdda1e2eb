package dev.tandem.spring.autoconfigure;

import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.boot.EnvironmentPostProcessor;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.core.Ordered;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.MapPropertySource;

/**
 * Spring Boot's own Kafka clients (the {@code @KafkaListener} containers' consumers, {@code
 * KafkaAdmin}) reach this process's region without a second setting: {@code
 * tandem.regions.<tandem.region>.bootstrap.servers} becomes the default of {@code
 * spring.kafka.bootstrap-servers}, and the region's other client settings (security.protocol, sasl.*,
 * ssl.*) defaults of {@code spring.kafka.properties.*}. Defaults only: the property source is the
 * last one, so an explicit {@code spring.kafka.*} setting wins.
 */
public class TandemEnvironmentPostProcessor implements EnvironmentPostProcessor, Ordered {

  /** The name of the property source added. */
  public static final String SOURCE = "tandemRegionKafkaDefaults";

  @Override
  public void postProcessEnvironment(ConfigurableEnvironment environment,
      SpringApplication application) {
    String region = environment.getProperty("tandem.region");
    if (region == null || region.isBlank()) {
      return;
    }
    Map<String, String> client = Binder.get(environment)
        .bind("tandem.regions." + region.trim(), Bindable.mapOf(String.class, String.class))
        .orElse(Map.of());
    if (client.isEmpty()) {
      return;
    }
    Map<String, Object> defaults = new LinkedHashMap<>();
    client.forEach((k, v) -> {
      if (k.equals("bootstrap.servers")) {
        defaults.put("spring.kafka.bootstrap-servers", v);
      } else {
        defaults.put("spring.kafka.properties[" + k + "]", v);
      }
    });
    environment.getPropertySources().addLast(new MapPropertySource(SOURCE, defaults));
  }

  /** After the application's configuration files are loaded. */
  @Override
  public int getOrder() {
    return Ordered.LOWEST_PRECEDENCE;
  }
}
