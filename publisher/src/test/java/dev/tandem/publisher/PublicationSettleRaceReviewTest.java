package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Review s7-r of s7/publish (40e7cbe, 4305b64): Publication's outcomes in a plain Object[] and the
 * unsettled count in an int, both through VarHandles. Two regions' settles race on two threads
 * (CyclicBarrier, many rounds): the caller's completion and the engine's accounting must run exactly
 * once, after both settles, and see both outcomes; a spooled copy's lazily created delivery future
 * must be the one the result hands out. Expected to hold (it does on the branch).
 */
class PublicationSettleRaceReviewTest {

  private static final RegionId A = RegionId.of("region-a");
  private static final RegionId B = RegionId.of("region-b");
  private static final int ROUNDS = 2_000;

  private static OutboundMessage message() {
    return OutboundMessage.builder("t", 0).value(new byte[] {1}).build();
  }

  private static void race(Runnable one, Runnable two) throws Exception {
    CyclicBarrier start = new CyclicBarrier(2);
    AtomicReference<Throwable> failed = new AtomicReference<>();
    Thread t = new Thread(() -> {
      try {
        start.await(10, TimeUnit.SECONDS);
        two.run();
      } catch (Throwable e) {
        failed.set(e);
      }
    });
    t.start();
    start.await(10, TimeUnit.SECONDS);
    one.run();
    t.join(10_000);
    assertNull(failed.get());
  }

  @Test
  void twoAcknowledgementsOnTwoThreadsCompleteTheListenerOnceWithBoth() throws Exception {
    for (int round = 0; round < ROUNDS; round++) {
      AtomicInteger listenerCalls = new AtomicInteger();
      AtomicInteger accountingCalls = new AtomicInteger();
      AtomicReference<PublishResult> seen = new AtomicReference<>();
      SinkAck ackA = new SinkAck(A, "t", 0, round, 1);
      SinkAck ackB = new SinkAck(B, "t", 0, round, 2);
      Publication p = new Publication(message(), round, List.of(A, B), AckPolicy.ALL,
          (r, e) -> {
            listenerCalls.incrementAndGet();
            seen.set(r);
          },
          ok -> {
            assertEquals(1, listenerCalls.get(), "accounting after the listener");
            accountingCalls.incrementAndGet();
          });
      race(() -> p.acknowledge(0, ackA), () -> p.acknowledge(1, ackB));
      assertEquals(1, listenerCalls.get(), "round " + round);
      assertEquals(1, accountingCalls.get(), "round " + round);
      assertNotNull(seen.get(), "round " + round);
      assertSame(ackA, seen.get().ack(A).orElseThrow());
      assertSame(ackB, seen.get().ack(B).orElseThrow());
    }
  }

  @Test
  void aSpooledCopyRacingTheOtherRegionsAckHandsOutItsPendingDelivery() throws Exception {
    for (int round = 0; round < ROUNDS; round++) {
      AtomicInteger accountingCalls = new AtomicInteger();
      SinkAck ackA = new SinkAck(A, "t", 0, round, 1);
      Publication p = new Publication(message(), round, List.of(A, B), AckPolicy.ANY, null,
          ok -> accountingCalls.incrementAndGet());
      CompletableFuture<SinkAck>[] delivery = new CompletableFuture[1];
      race(() -> p.acknowledge(0, ackA), () -> {
        // what toSpool does: the delivery future first, then the settle once durable
        delivery[0] = p.delivery(1);
        p.settle(1, Publication.Outcome.spooled(new IllegalStateException("timed out")));
      });
      PublishResult r = p.result.get(10, TimeUnit.SECONDS);
      assertEquals(1, accountingCalls.get(), "round " + round);
      assertSame(delivery[0], r.delivery(B), "round " + round);
      assertTrue(!r.delivery(B).isDone(), "completed by the replay only");
      assertSame(ackA, r.delivery(A).join());
    }
  }
}
