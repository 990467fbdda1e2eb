package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import dev.tandem.testkit.MockProducers;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Test fixture: a {@link TandemKafkaProducer} over two {@link MockProducer}s (no brokers), the set-up
 * that {@code TandemKafkaProducerCallbackTest}, {@code PublishPathReviewTest} and {@code
 * PublishStartFailureTest} share.
 */
final class MockRegionProducers {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");

  private MockRegionProducers() {}

  /**
   * A mock region producer that knows {@code topic} with two partitions; with {@code autoComplete}
   * every send is acknowledged at once, else the test completes or fails each send by hand.
   */
  static MockProducer<byte[], byte[]> mock(String topic, boolean autoComplete) {
    return MockProducers.of(topic, 2, autoComplete);
  }


  /** A Tandem producer over {@code a} (region A) and {@code b} (region B) with the given policy. */
  static TandemKafkaProducer<byte[], byte[]> producer(MockProducer<byte[], byte[]> a,
      MockProducer<byte[], byte[]> b, Path spool, AckPolicy policy, MeterRegistry meters) {
    return TandemKafkaProducer.builder(new ByteArraySerializer(), new ByteArraySerializer())
        .region(A, a).region(B, b)
        .publisher(p -> {
          p.spoolDirectory(spool).ackPolicy(policy);
          if (meters != null) {
            p.meterRegistry(meters);
          }
        })
        .build();
  }
}
