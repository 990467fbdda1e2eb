package dev.tandem.spring.kafka;

import dev.tandem.consumer.TandemRegion;
import org.springframework.kafka.config.ConcurrentKafkaListenerContainerFactory;

import java.util.Objects;

/**
 * Gives the {@code @KafkaListener} methods of a Spring Kafka container factory the guarantee of
 * {@code TandemKafkaConsumer}: owned shards claim, run the listener, complete (the offset committed only
 * after the completion is durable); completed ids skipped; a follower's record for a shard the other region
 * owns held (never acknowledged) until it is completed somewhere; failures released, retried and
 * dead-lettered after {@code maxAttempts}.
 *
 * <p>Stub of the public contract (issue 18); the installation follows in the next commits.
 */
public final class TandemListenerContainers {

    private TandemListenerContainers() {
    }

    /**
     * Installs on {@code factory} everything the guarantee needs (record and batch interceptors, the error
     * handler for held records and failures, the rebalance listener) after checking the factory's settings.
     *
     * @throws IllegalStateException naming the offending setting when the factory is configured in a way that
     *         would break the guarantee (for example {@code enable.auto.commit=true}, an {@code AckMode} that
     *         commits past a held record, or a user error handler that would recover a held record)
     */
    public static <K, V> void apply(ConcurrentKafkaListenerContainerFactory<K, V> factory, TandemRegion region) {
        Objects.requireNonNull(factory, "factory");
        Objects.requireNonNull(region, "region");
    }
}
