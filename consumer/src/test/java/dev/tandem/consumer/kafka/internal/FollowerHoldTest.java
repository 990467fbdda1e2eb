package dev.tandem.consumer.kafka.internal;

import static dev.tandem.consumer.kafka.internal.Fakes.A;
import static dev.tandem.consumer.kafka.internal.Fakes.B;
import static dev.tandem.consumer.kafka.internal.Fakes.P0;
import static dev.tandem.consumer.kafka.internal.Fakes.record;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import dev.tandem.core.PayloadDigest;
import dev.tandem.store.Completer;
import dev.tandem.store.IdRecord;
import dev.tandem.store.Owner;
import dev.tandem.store.Phase;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import java.nio.charset.StandardCharsets;
import java.util.TreeSet;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/**
 * {@link FollowerHold} alone, fast and deterministic: a MockConsumer, a ManualClock, the store's
 * completions and the ownership as in-memory fakes. Region-b follows partition 0 (region-a owns it).
 */
class FollowerHoldTest {

  final ManualClock clock = Fakes.clock();
  final Fakes.Kafka kafka = new Fakes.Kafka(P0);
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  final LoopContext ctx = Fakes.ctx(kafka, clock, meters);
  final Fakes.Completions completions = new Fakes.Completions();
  final Fakes.Ownership ownership = new Fakes.Ownership(B);
  final Fakes.Sink sinkA = new Fakes.Sink(A);
  final AssignedPartitions assigned = new AssignedPartitions();
  final OffsetCommitter committer =
      new OffsetCommitter(ctx, Duration.ofSeconds(1), OffsetCommitter.CommitMetadata.NONE);
  final FollowerHold hold = new FollowerHold(ctx, completions, ownership, Map.of(A, sinkA),
      Duration.ofSeconds(30), committer, assigned);
  final List<List<ConsumerRecord<byte[], byte[]>>> ranAsOwner = new ArrayList<>();

  {
    assigned.add(P0);
  }

  void tick() {
    hold.tick((tp, recs) -> ranAsOwner.add(recs));
  }

  @Test
  void heldRecordsAreAcknowledgedOnlyFromTheHeadInOffsetOrder() {
    hold.follow(P0, List.of(record(0), record(1), record(2)));
    assertEquals(3, hold.count());
    assertTrue(kafka.paused().contains(P0), "a held partition is paused");

    completions.terminal.add("id-1"); // completed by the owner, but id-0 before it is not
    tick();
    committer.commitDue(false);
    assertEquals(3, hold.count(), "nothing past an unacknowledged head");
    assertEquals(-1, kafka.lastCommit(P0));

    completions.terminal.add("id-0");
    tick();
    committer.commitDue(false);
    assertEquals(1, hold.count(), "id-0 and id-1 acknowledged, id-2 held");
    assertEquals(2, kafka.lastCommit(P0));
    assertEquals(2, assigned.position(0), "the heartbeats carry the follower's progress");
    assertTrue(kafka.paused().contains(P0));

    completions.terminal.add("id-2");
    tick();
    committer.commitDue(false);
    assertEquals(0, hold.count());
    assertEquals(3, kafka.lastCommit(P0));
    assertFalse(kafka.paused().contains(P0), "resumed once nothing is held");
    assertFalse(hold.holds(P0));
    assertEquals(3.0, meters.get("tandem.consumer.follower.acknowledged").counter().count());
    assertEquals(List.of(), ranAsOwner, "a follower never runs the handler");
  }

  @Test
  void recordsFetchedWhileHoldingJoinBehindTheHeldOnes() {
    hold.follow(P0, List.of(record(0)));
    hold.append(P0, List.of(record(1)));
    assertEquals(2, hold.count());
    completions.terminal.add("id-1");
    tick();
    assertEquals(2, hold.count(), "id-1 waits behind id-0");
  }

  @Test
  void theHeadCopyIsResentToTheOwnerRegionOnceAfterMaxHold() {
    hold.follow(P0, List.of(record(0), record(1)));
    clock.advance(Duration.ofSeconds(30));
    tick();
    assertEquals(List.of(), sinkA.sent, "not past maxHold yet");

    clock.advance(Duration.ofMillis(1));
    tick();
    assertEquals(1, sinkA.sent.size());
    assertEquals("id-0", sinkA.sent.get(0).envelope().id(), "the head, under its own id");
    tick();
    assertEquals(1, sinkA.sent.size(), "once per id");
    assertEquals(2, hold.count(), "held on after the re-send");
  }

  @Test
  void whenTheShardBecomesOwnedHereTheHeldRecordsGoToTheOwnerBatchInOrder() {
    hold.follow(P0, List.of(record(0), record(1)));
    hold.append(P0, List.of(record(2)));
    ownership.owner = B; // taken over (or the policy allows processing again)
    tick();
    assertEquals(0, hold.count());
    assertFalse(kafka.paused().contains(P0));
    assertEquals(1, ranAsOwner.size());
    assertEquals(List.of(0L, 1L, 2L), ranAsOwner.get(0).stream().map(ConsumerRecord::offset).toList());
  }

  @Test
  void forgetAndClearLeaveNothingCounted() {
    hold.follow(P0, List.of(record(0), record(1)));
    hold.forget(P0);
    assertEquals(0, hold.count(), "a partition given up holds nothing");
    hold.follow(P0, List.of(record(0)));
    hold.clear();
    assertEquals(0, hold.count(), "a stopped loop holds nothing");
  }

  /** {@code id}'s record in {@code phase}, as the store listener is told it. */
  static IdRecord stored(String id, Phase phase) {
    TreeSet<PayloadDigest> digests = new TreeSet<>();
    digests.add(PayloadDigest.of(id.getBytes(StandardCharsets.UTF_8)));
    TreeSet<Completer> completers = new TreeSet<>();
    if (phase == Phase.COMPLETED) {
      completers.add(new Completer(A, "a1", 1));
    }
    return new IdRecord(id, 0, 0, phase, 1, 0, Owner.of(A.name(), "a1"), 30_000, 1L << 16,
        1_700_000_000_000L, digests, completers, null, null);
  }

  @Test
  void theStoreListenerMarksTheCompletionOfAHeldHeadOnly() {
    StoreListener listener = hold.completionListener();
    listener.onRecord(stored("id-0", Phase.COMPLETED), WriteOrigin.REMOTE);
    assertFalse(hold.completionApplied(), "nothing held: nothing watched");

    hold.follow(P0, List.of(record(0), record(1)));
    assertTrue(hold.watching(), "the head id-0 waits for its completion");
    listener.onRecord(stored("id-1", Phase.COMPLETED), WriteOrigin.REMOTE);
    listener.onRecord(stored("id-0", Phase.CLAIMED), WriteOrigin.REMOTE);
    assertFalse(hold.completionApplied(), "not the head, or not terminal");
    listener.onRecord(stored("id-0", Phase.COMPLETED), WriteOrigin.REMOTE);
    assertTrue(hold.completionApplied(), "the head's completion applied");

    hold.clearCompletionApplied();
    completions.terminal.add("id-0");
    tick();
    assertEquals(1, hold.count(), "id-0 acknowledged, id-1 held");
    listener.onRecord(stored("id-0", Phase.COMPLETED), WriteOrigin.REMOTE);
    assertFalse(hold.completionApplied(), "id-0 is no longer watched");
    listener.onRecord(stored("id-1", Phase.DEAD_LETTERED), WriteOrigin.REMOTE);
    assertTrue(hold.completionApplied(), "the new head id-1 is watched (dead-lettered is terminal)");

    completions.terminal.add("id-1");
    tick();
    assertEquals(0, hold.count());
    assertFalse(hold.watching(), "nothing held: nothing watched");
  }

  /**
   * Two held partitions whose heads carry the same id (two topics of one loop, or an id held in two
   * shards): when one stops waiting (here: given up), the other's head is still watched, so its
   * completion still ends the poll early (review s8-r R2).
   */
  @Test
  void twoHeldHeadsWithTheSameIdAreBothWatched() {
    org.apache.kafka.common.TopicPartition q0 =
        new org.apache.kafka.common.TopicPartition("other-topic", 0);
    Fakes.Kafka twoTopics = new Fakes.Kafka(P0, q0);
    LoopContext c = Fakes.ctx(twoTopics, clock, new SimpleMeterRegistry());
    AssignedPartitions both = new AssignedPartitions();
    both.add(P0);
    both.add(q0);
    FollowerHold h = new FollowerHold(c, completions, ownership, Map.of(A, sinkA),
        Duration.ofSeconds(30), new OffsetCommitter(c, Duration.ofSeconds(1),
            OffsetCommitter.CommitMetadata.NONE), both);
    StoreListener listener = h.completionListener();
    h.follow(q0, List.of(new ConsumerRecord<>("other-topic", 0, 0, "k".getBytes(
        StandardCharsets.UTF_8), "payload 0".getBytes(StandardCharsets.UTF_8)))); // head id-0
    h.follow(P0, List.of(record(0))); // head id-0 too
    h.forget(P0); // P0 given up: only q0's head id-0 waits now
    assertTrue(h.watching());
    listener.onRecord(stored("id-0", Phase.COMPLETED), WriteOrigin.REMOTE);
    assertTrue(h.completionApplied(), "q0's head id-0 is still watched");
  }

  @Test
  void aCompletionAppliedBetweenTheLookAndTheWatchIsNotMissed() {
    // the store answers "not terminal" to the first look at id-0, "terminal" after: its completion
    // applied between the drain's look and the watch, when the listener could not mark it yet
    AtomicInteger looks = new AtomicInteger();
    FollowerHold.Completions racing = new FollowerHold.Completions() {
      @Override
      public java.util.Optional<dev.tandem.core.Envelope> envelopeOf(
          dev.tandem.consumer.IncomingMessage m) {
        return completions.envelopeOf(m);
      }

      @Override
      public boolean terminal(dev.tandem.consumer.IncomingMessage m) {
        return looks.incrementAndGet() > 1;
      }
    };
    FollowerHold h = new FollowerHold(ctx, racing, ownership, Map.of(A, sinkA),
        Duration.ofSeconds(30), committer, assigned);
    h.follow(P0, List.of(record(0)));
    assertEquals(0, h.count(), "acknowledged by the look after the watch, not a poll timeout later");
    assertFalse(h.watching());
    assertFalse(kafka.paused().contains(P0));
  }

  @Test
  void theYoungestWaitOfAHeldHeadIsWhatTheLoopsPollSlicesGrowWith() {
    assertEquals(0, hold.youngestWaitNanos(), "nothing held");
    hold.follow(P0, List.of(record(0), record(1)));
    clock.advance(Duration.ofMillis(300));
    assertEquals(Duration.ofMillis(300).toNanos(), hold.youngestWaitNanos());

    completions.terminal.add("id-0");
    tick();
    assertEquals(0, hold.youngestWaitNanos(), "the new head id-1 has just begun to wait");
    clock.advance(Duration.ofMillis(40));
    assertEquals(Duration.ofMillis(40).toNanos(), hold.youngestWaitNanos());
  }
}
