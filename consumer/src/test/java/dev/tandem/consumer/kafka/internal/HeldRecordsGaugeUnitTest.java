package dev.tandem.consumer.kafka.internal;

import static dev.tandem.consumer.kafka.internal.Fakes.B;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** {@link HeldRecordsGauge}: one gauge per registry, region and topic, the sum of running loops. */
class HeldRecordsGaugeUnitTest {

  @Test
  void theGaugeSumsTheLoopsOfATopicUntilEachIsRemoved() {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    AtomicLong one = new AtomicLong(2);
    AtomicLong two = new AtomicLong(5);
    HeldRecordsGauge g1 = HeldRecordsGauge.add(meters, B, "orders", one::get);
    HeldRecordsGauge g2 = HeldRecordsGauge.add(meters, B, "orders", two::get);
    HeldRecordsGauge other = HeldRecordsGauge.add(meters, B, "payments", () -> 11);
    assertEquals(7.0, value(meters, "orders"));
    assertEquals(11.0, value(meters, "payments"));

    g2.remove();
    assertEquals(2.0, value(meters, "orders"), "a stopped loop no longer counts");
    g1.remove();
    g1.remove(); // idempotent
    assertEquals(0.0, value(meters, "orders"));
    other.remove();
  }

  static double value(SimpleMeterRegistry meters, String topic) {
    return meters.get("tandem.consumer.follower.held").tag("topic", topic).gauge().value();
  }
}
