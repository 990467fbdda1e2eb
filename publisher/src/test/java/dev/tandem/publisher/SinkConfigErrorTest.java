package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/**
 * Wrong configuration gets a clear exception naming the bad input: a Kafka sink built from producer
 * properties without {@code bootstrap.servers} must say so, and for which region — before, it failed
 * with a bare NullPointerException from {@code Properties.put} while copying the admin settings.
 */
class SinkConfigErrorTest {

  @Test
  void aSinkWithoutBootstrapServersNamesTheSettingAndTheRegion() {
    Properties props = new Properties();
    props.put("linger.ms", "5");
    Throwable e = assertThrows(Throwable.class,
        () -> KafkaRegionalSink.create(RegionId.of("westeurope"), props).close());
    assertInstanceOf(IllegalArgumentException.class, e, "a clear exception, not " + e);
    assertTrue(e.getMessage().contains("bootstrap.servers") && e.getMessage().contains("westeurope"),
        e.getMessage());
  }
}
