package dev.tandem.spring.autoconfigure;

import dev.tandem.consumer.TandemRegion;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.kafka.autoconfigure.KafkaAutoConfiguration;
import org.springframework.boot.kafka.autoconfigure.KafkaProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.beans.BeansException;
import org.springframework.beans.factory.config.BeanPostProcessor;
import dev.tandem.spring.kafka.TandemListenerContainers;
import dev.tandem.spring.kafka.TandemListenerSupport;
import org.springframework.kafka.config.ConcurrentKafkaListenerContainerFactory;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.core.ProducerFactory;

/**
 * Tandem for Spring Boot: with {@code tandem.region} set, a {@link TandemRegion} from {@code
 * tandem.*} ({@link TandemProperties}) and the application's {@link MeterRegistry}, closed with the
 * context; a {@link ProducerFactory} publishing to every region ({@link TandemProducerFactory}), which
 * Spring Boot's own {@code KafkaTemplate} uses (Boot's {@code kafkaProducerFactory} and {@code
 * kafkaTemplate} are {@code @ConditionalOnMissingBean}, and this runs before {@link
 * KafkaAutoConfiguration}); the {@code @KafkaListener} containers of the listener container factory
 * named {@value #LISTENER_FACTORY} (Spring Boot's default, or the application's of that name) get the
 * guarantee ({@link TandemListenerContainers#apply}). Every bean backs off when the application
 * defines its own.
 */
@AutoConfiguration(before = KafkaAutoConfiguration.class)
@ConditionalOnClass({TandemRegion.class, KafkaTemplate.class})
@ConditionalOnProperty(prefix = "tandem", name = "region")
@EnableConfigurationProperties({TandemProperties.class, KafkaProperties.class})
public class TandemAutoConfiguration {

  /** The bean name of Spring Boot's default listener container factory. */
  public static final String LISTENER_FACTORY = "kafkaListenerContainerFactory";

  private static final Logger log = LoggerFactory.getLogger(TandemAutoConfiguration.class);

  /**
   * This process's region: {@code TandemRegion.create} of {@link TandemPropertyKeys#regionConfig},
   * with the application's meter registry when there is exactly one. Closed when the context closes.
   */
  @Bean(destroyMethod = "close")
  @ConditionalOnMissingBean
  public TandemRegion tandemRegion(TandemProperties properties,
      ObjectProvider<MeterRegistry> meterRegistry) {
    Map<String, Object> config = TandemPropertyKeys.regionConfig(properties);
    TandemRegion.Builder b = TandemRegion.builder().configs(config);
    MeterRegistry registry = meterRegistry.getIfUnique();
    if (registry != null) {
      b.meterRegistry(registry);
    }
    TandemRegion region = b.build();
    log.info("Tandem region {} (instance {}) started from tandem.* ({} shards, regions {})",
        region.region().name(), region.instance(), region.shardCount(), region.regions());
    return region;
  }

  /**
   * The producer factory of Spring Boot's {@code KafkaTemplate}: a {@link TandemProducerFactory} over
   * {@code spring.kafka.producer.*} (serializers, acks, ...) and the producer keys of {@code
   * tandem.*}.
   *
   * @throws IllegalStateException when a transaction id prefix is configured (not supported)
   */
  @Bean
  @ConditionalOnMissingBean(ProducerFactory.class)
  public TandemProducerFactory<Object, Object> kafkaProducerFactory(KafkaProperties kafka,
      TandemProperties properties, ObjectProvider<MeterRegistry> meterRegistry) {
    if (kafka.getProducer().getTransactionIdPrefix() != null) {
      throw new IllegalStateException(TandemProducerFactory.NO_TRANSACTIONS
          + " (spring.kafka.producer.transaction-id-prefix="
          + kafka.getProducer().getTransactionIdPrefix() + ")");
    }
    if (kafka.getTemplate().getTransactionIdPrefix() != null) {
      throw new IllegalStateException(TandemProducerFactory.NO_TRANSACTIONS
          + " (spring.kafka.template.transaction-id-prefix="
          + kafka.getTemplate().getTransactionIdPrefix() + ")");
    }
    return new TandemProducerFactory<>(kafka.buildProducerProperties(),
        TandemPropertyKeys.producerConfig(properties), meterRegistry.getIfUnique());
  }

  /**
   * The region's listener support (processor, held records, lease ticker of the {@code
   * @KafkaListener} containers), a bean so that the context closes it after the containers stop and
   * before the region closes (it depends on the region). Lazy: made when the listener factory is
   * put under the guarantee, so an application without listeners (a producer only) runs no lease
   * ticker.
   */
  @Bean(destroyMethod = "close")
  @org.springframework.context.annotation.Lazy
  @ConditionalOnMissingBean
  public TandemListenerSupport tandemListenerSupport(TandemRegion region) {
    return TandemListenerContainers.support(region);
  }

  /**
   * Applies {@link TandemListenerContainers#apply} to the listener container factory named {@value
   * #LISTENER_FACTORY} once it is fully configured (Spring Boot's {@code
   * KafkaAnnotationDrivenConfiguration} configures it in its bean method, so every setting it will
   * have is there to check). A post-processor rather than a {@code ContainerCustomizer}: Boot takes
   * a single customizer bean and the application may have its own. Other factories are left alone:
   * name them in {@code TandemListenerContainers.apply} yourself.
   */
  @Bean
  @ConditionalOnMissingBean(name = "tandemListenerFactoryPostProcessor")
  public static BeanPostProcessor tandemListenerFactoryPostProcessor(
      ObjectProvider<TandemRegion> region, ObjectProvider<TandemListenerSupport> support) {
    return new BeanPostProcessor() {
      @Override
      public Object postProcessAfterInitialization(Object bean, String beanName)
          throws BeansException {
        if (LISTENER_FACTORY.equals(beanName)
            && bean instanceof ConcurrentKafkaListenerContainerFactory<?, ?> factory) {
          // the support bean first: made (and closed) by the context, the one apply() uses
          support.getObject();
          TandemListenerContainers.apply(factory, region.getObject());
          log.info("Tandem: @KafkaListener containers of '{}' run with the Tandem guarantee",
              beanName);
        }
        return bean;
      }
    };
  }
}
