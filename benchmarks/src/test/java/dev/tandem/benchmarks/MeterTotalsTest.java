package dev.tandem.benchmarks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link MeterTotals}: sums by name and tags over every meter ever registered, each counted once. */
class MeterTotalsTest {

  @Test
  void sumsByNameAndTagsOverRegistriesAndMetersPresentBeforeTheWatch() {
    MeterRegistry a = new SimpleMeterRegistry();
    MeterRegistry b = new SimpleMeterRegistry();
    a.counter("tandem.replication.sent", "type", "record", "region", "a").increment(3); // before watch
    MeterTotals totals = new MeterTotals();
    assertTrue(totals.isEmpty());
    totals.watch(a);
    totals.watch(b);
    totals.watch(a); // a second watch of the same registry counts nothing twice
    b.counter("tandem.replication.sent", "type", "record", "region", "b").increment(4);
    b.counter("tandem.replication.sent", "type", "heartbeat", "region", "b").increment(100);
    b.counter("tandem.other", "type", "record").increment(1_000);
    assertEquals(7.0, totals.count("tandem.replication.sent", "type", "record"));
    assertEquals(107.0, totals.count("tandem.replication.sent"));
    assertEquals(0.0, totals.count("tandem.absent"));
    assertThrows(IllegalArgumentException.class, () -> totals.count("x", "lonely-key"));
  }

  @Test
  void timersSumCountAndTotalTimeIncludingARemovedOne() {
    MeterRegistry r = new SimpleMeterRegistry();
    MeterTotals totals = new MeterTotals();
    totals.watch(r);
    Timer first = r.timer("tandem.consumer.follower.hold", "region", "a");
    first.record(10, TimeUnit.MILLISECONDS);
    r.remove(first);
    r.timer("tandem.consumer.follower.hold", "region", "a").record(30, TimeUnit.MILLISECONDS);
    assertArrayEquals(new double[] {2, 40e6}, totals.timer("tandem.consumer.follower.hold"), 1e-3);
  }
}
