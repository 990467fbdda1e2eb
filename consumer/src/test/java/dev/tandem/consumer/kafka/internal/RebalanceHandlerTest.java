package dev.tandem.consumer.kafka.internal;

import static dev.tandem.consumer.kafka.internal.Fakes.B;
import static dev.tandem.consumer.kafka.internal.Fakes.P0;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.StubReplicationLog;
import dev.tandem.core.ManualClock;
import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.Handoff;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link RebalanceHandler} alone: a revoke commits the offsets whose barrier completed, hands off a
 * shard whose changelog writes are not acknowledged (a token committed at its last committed
 * offset), and forgets everything of the partitions given up. MockConsumer, a scripted replication
 * log, a ManualClock; the processor runs on a local store (no Kafka broker).
 */
class RebalanceHandlerTest {

  /** A replication log whose own-region barrier and hand-off markers the test decides. */
  static final class ScriptedLog extends StubReplicationLog {
    volatile CompletableFuture<Void> barrier = CompletableFuture.completedFuture(null);
    final List<Integer> handedOff = new CopyOnWriteArrayList<>();
    final List<List<Set<Integer>>> revokes = new CopyOnWriteArrayList<>();

    ScriptedLog() {
      super(Set.of(0));
    }

    @Override
    public void revoke(Set<Integer> shards) {
      revoke(shards, Set.of());
    }

    @Override
    public void revoke(Set<Integer> shards, Set<Integer> unwaited) {
      revokes.add(List.of(Set.copyOf(shards), Set.copyOf(unwaited)));
    }

    @Override
    public Optional<Handoff> handOff(int shard) {
      handedOff.add(shard);
      return Optional.of(new Handoff(B, "this-incarnation", shard, 7L));
    }

    @Override
    public CompletableFuture<Void> barrier(int shard, RegionId region) {
      return barrier;
    }
  }

  @TempDir Path dir;
  final ManualClock clock = Fakes.clock();
  final Fakes.Kafka kafka = new Fakes.Kafka(P0);
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  final LoopContext ctx = Fakes.ctx(kafka, clock, meters);
  final ScriptedLog log = new ScriptedLog();
  final AssignedPartitions assigned = new AssignedPartitions();
  final PartitionPauses pauses = new PartitionPauses(ctx);
  IdempotencyStore store;
  OffsetCommitter committer;
  HandoffGate handoffs;
  FollowerHold hold;
  RebalanceHandler rebalance;

  @BeforeEach
  void wire() {
    store = IdempotencyStore.builder().region(B).instance("b-1").directory(dir.resolve("store"))
        .clock(clock).meterRegistry(new SimpleMeterRegistry()).build();
    OnceProcessor processor = OnceProcessor.builder().store(store)
        .deadLetterSink(letter -> CompletableFuture.completedFuture(null)).meterRegistry(meters)
        .build();
    handoffs = new HandoffGate(ctx, log, Duration.ofMinutes(5), Duration.ofSeconds(1),
        (tp, offset) -> committer.commitWithoutToken(tp, offset));
    committer = new OffsetCommitter(ctx, Duration.ofSeconds(1), handoffs);
    hold = new FollowerHold(ctx, new Fakes.Completions(), new Fakes.Ownership(B), Map.of(),
        Duration.ofSeconds(30), committer, assigned);
    rebalance = new RebalanceHandler(new RebalanceHandler.Parts(ctx, processor, null, log, true,
        assigned, committer, handoffs, hold, pauses, null),
        new RebalanceHandler.Bounds(Duration.ofSeconds(5), Duration.ofMillis(100),
            Duration.ofSeconds(1), Duration.ofSeconds(1)));
    rebalance.onPartitionsAssigned(List.of(P0));
  }

  @AfterEach
  void close() {
    store.close();
  }

  OffsetAndMetadata lastCommitOfP0() {
    return kafka.commits.get(kafka.commits.size() - 1).get(P0);
  }

  @Test
  void aRevokeCommitsWhatIsAcknowledgedAndGivesThePartitionUp() {
    assigned.fetched(P0, 0);
    committer.due(P0, 4, CompletableFuture.completedFuture(null));
    pauses.pauseUntil(P0, 4, clock.nanoTime() + Duration.ofSeconds(1).toNanos());
    rebalance.onPartitionsRevoked(List.of(P0));

    assertEquals(new OffsetAndMetadata(4, ""), lastCommitOfP0());
    assertEquals(List.of(), log.handedOff, "flushed: nothing to hand off");
    assertEquals(List.of(List.of(Set.of(0), Set.of())), log.revokes, "flush-then-drop of shard 0");
    assertFalse(assigned.contains(P0));
    assertFalse(committer.hasDue(P0));
    assertFalse(pauses.isPaused(P0));
    assertEquals(1L, meters.get("tandem.consumer.revoke.duration").timer().count());
  }

  @Test
  void anUnflushedShardIsHandedOffWithATokenAtItsLastCommittedOffset() {
    assigned.fetched(P0, 0);
    committer.dueNow(P0, 3);
    committer.commitDue(false); // 3 committed while the changelog still acknowledged
    CompletableFuture<Void> never = new CompletableFuture<>();
    log.barrier = never; // from here the own changelog acknowledges nothing
    committer.due(P0, 6, never); // a batch ran 3..5: its offset waits for the barrier
    rebalance.onPartitionsRevoked(List.of(P0));

    OffsetAndMetadata last = lastCommitOfP0();
    assertEquals(3, last.offset(), "the offset stays where the changelog has everything");
    assertEquals(Optional.of(new Handoff(B, "this-incarnation", 0, 7L)),
        Handoff.decode(last.metadata()), "the next holder waits for this marker");
    assertEquals(List.of(0), log.handedOff);
    assertEquals(List.of(List.of(Set.of(0), Set.of())), log.revokes);
    assertEquals(1.0, meters.get("tandem.consumer.handoffs").tag("side", "given").counter().count());
  }

  @Test
  void aTurnsCommitStillUnansweredAtARevokeIsAnsweredBeforeTheTokenIsCommittedAtIt() {
    kafka.deferAnswers = true; // answered in order, as by the coordinator; callbacks in a later call
    assigned.fetched(P0, 0);
    committer.dueNow(P0, 3);
    committer.commitDue(false); // a turn's commitAsync of 3: sent, not answered yet
    assertEquals(null, committer.committed(P0));
    CompletableFuture<Void> never = new CompletableFuture<>();
    log.barrier = never;
    committer.due(P0, 6, never);
    rebalance.onPartitionsRevoked(List.of(P0));

    assertEquals(0, kafka.unanswered(), "the revoke's blocking commit waited for the answer");
    OffsetAndMetadata last = lastCommitOfP0();
    assertEquals(3, last.offset(),
        "the token sits at the offset the group has (3), not back at the start offset (0)");
    assertEquals(Optional.of(new Handoff(B, "this-incarnation", 0, 7L)),
        Handoff.decode(last.metadata()));
  }

  @Test
  void aTurnsCommitFailingRetriablyInsideTheRevokesCommitIsCommittedAgainBeforeTheToken() {
    kafka.deferAnswers = true;
    assigned.fetched(P0, 0);
    committer.dueNow(P0, 3);
    committer.commitDue(false); // a turn's commitAsync of 3: sent, not answered yet
    log.barrier = new CompletableFuture<>(); // the shard is not flushed: handed off
    // the coordinator moved: the answer, run inside the revoke's commitSync, is a failure
    kafka.errorsAtBlockingCommit.add(
        new org.apache.kafka.clients.consumer.RetriableCommitFailedException("coordinator moved"));
    rebalance.onPartitionsRevoked(List.of(P0));

    assertEquals(3, kafka.groupHas(P0), "committed again before the partition is given up");
    OffsetAndMetadata last = lastCommitOfP0();
    assertEquals(3, last.offset(), "the token sits at 3, not back at the start offset (0)");
    assertEquals(Optional.of(new Handoff(B, "this-incarnation", 0, 7L)),
        Handoff.decode(last.metadata()));
  }

  @Test
  void aPartitionWithNothingFetchedHereIsDroppedWithoutAHandoffOrWaiting() {
    log.barrier = new CompletableFuture<>();
    int commits = kafka.commits.size();
    rebalance.onPartitionsRevoked(List.of(P0));
    assertEquals(List.of(), log.handedOff, "no claim was made here");
    assertEquals(commits, kafka.commits.size(), "nothing committed");
    assertEquals(List.of(List.of(Set.of(0), Set.of(0))), log.revokes, "dropped without waiting");
  }

  @Test
  void lostPartitionsCommitNothingAndAreForgotten() {
    assigned.fetched(P0, 0);
    committer.dueNow(P0, 2);
    hold.follow(P0, List.of(Fakes.record(0)));
    int commits = kafka.commits.size();
    rebalance.onPartitionsLost(List.of(P0));
    assertEquals(commits, kafka.commits.size(), "the group gave the partition away already");
    assertFalse(committer.hasDue(P0));
    assertEquals(0, hold.count());
    assertTrue(log.handedOff.isEmpty());
    assertEquals(List.of(List.of(Set.of(0), Set.of())), log.revokes);
  }
}
