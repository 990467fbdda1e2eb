package dev.tandem.consumer.ownership;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.witness.TakeoverWitness;
import dev.tandem.consumer.witness.WitnessGrant;
import dev.tandem.core.RegionId;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The WITNESS policy renews its grants on one periodic task. A witness call that throws an Error (a
 * LinkageError from the blob client, an OutOfMemoryError) must cost that round only: escaping, it
 * cancels every later renewal without a word (a periodic task's throw lands in its never-read future):
 * grants are then asked for again only once they have lapsed (mayProcess, ownerAlive), so each one
 * lapses every lease — a window in which the peer's takeover is granted. In memory (a witness that
 * throws on the first periodic renewal, grants otherwise), the renewer thread runs for real.
 */
class WitnessRenewErrorTest {

  static final RegionId A = TestRegions.A;
  static final Duration LEASE = Duration.ofSeconds(8);

  /** Whether the witness is called from the periodic renewal round (not a one-off request). */
  private static boolean periodic() {
    return StackWalker.getInstance().walk(frames -> frames.anyMatch(
        f -> f.getClassName().equals(WitnessPolicy.class.getName()) && f.getMethodName().equals("renewAll")));
  }

  @Test
  void aRenewalThatThrowsAnErrorDoesNotEndTheRenewals() {
    AtomicLong clock = new AtomicLong(5_000);
    AtomicInteger calls = new AtomicInteger();
    AtomicInteger periodicErrors = new AtomicInteger();
    AtomicInteger periodicCalls = new AtomicInteger();
    TakeoverWitness witness = new TakeoverWitness() {
      @Override
      public WitnessGrant acquire(int shard, RegionId candidate, long epoch) {
        calls.incrementAndGet();
        if (periodic() && periodicErrors.getAndIncrement() == 0) { // the first periodic round's call
          throw new NoClassDefFoundError("com/azure/storage/blob/specialized/BlobLeaseClient");
        }
        if (periodic()) {
          periodicCalls.incrementAndGet();
        }
        return WitnessGrant.granted(candidate, epoch, clock.get() + LEASE.toNanos());
      }

      @Override
      public void release(int shard, RegionId holder) {}

      @Override
      public Duration leaseDuration() {
        return LEASE;
      }

      @Override
      public void close() {}
    };
    WitnessPolicyTest.Leases leases = new WitnessPolicyTest.Leases().set(0, 0, A);
    try (WitnessPolicy p = WitnessPolicy.builder(witness).renewEvery(Duration.ofMillis(50))
        .nanoTime(clock::get).build()) {
      p.attach(A, new SimpleMeterRegistry(), leases::get);
      p.ownerAlive(0); // the first grant, requested at once (a one-off task, not the periodic one)
      await("the first grant").atMost(Duration.ofSeconds(10)).until(() -> p.mayProcess(0, 0));
      // the periodic renewal's first call throws; later rounds must still ask the witness
      await("periodic renewals after the round that threw").atMost(Duration.ofSeconds(10))
          .until(() -> periodicErrors.get() >= 1 && periodicCalls.get() >= 1);
      assertTrue(p.mayProcess(0, 0), "the grant is renewed");
    }
  }
}
