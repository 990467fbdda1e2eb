package dev.tandem.spring.autoconfigure.actuator;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.spring.autoconfigure.TandemAutoConfiguration;
import org.springframework.boot.actuate.autoconfigure.endpoint.condition.ConditionalOnAvailableEndpoint;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Tandem's Actuator parts, when Actuator is on the class path and a {@link TandemRegion} bean exists:
 * the {@code tandem} health indicator ({@link TandemHealthIndicator}, off with {@code
 * management.health.tandem.enabled=false}) and the {@code tandem} endpoint ({@link TandemEndpoint},
 * only when exposed). Each backs off for a bean of the application's.
 */
@AutoConfiguration(after = TandemAutoConfiguration.class)
@ConditionalOnClass(TandemRegion.class)
@ConditionalOnBean(TandemRegion.class)
public class TandemActuatorAutoConfiguration {

  /** The health indicator (spring-boot-health on the class path). */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(HealthIndicator.class)
  @ConditionalOnEnabledHealthIndicator("tandem")
  static class Health {
    @Bean
    @ConditionalOnMissingBean(name = "tandemHealthIndicator")
    TandemHealthIndicator tandemHealthIndicator(TandemRegion region) {
      return new TandemHealthIndicator(region);
    }
  }

  /** The endpoint (spring-boot-actuator-autoconfigure on the class path). */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(ConditionalOnAvailableEndpoint.class)
  static class Endpoint {
    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnAvailableEndpoint
    TandemEndpoint tandemEndpoint(TandemRegion region) {
      return new TandemEndpoint(region);
    }
  }
}
