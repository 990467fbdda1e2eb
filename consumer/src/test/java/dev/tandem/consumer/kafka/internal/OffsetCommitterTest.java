package dev.tandem.consumer.kafka.internal;

import static dev.tandem.consumer.kafka.internal.Fakes.P0;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * {@link OffsetCommitter} alone: an offset is committed only once its shard's changelog barrier
 * completed, with the metadata it must carry, never while that metadata is unknown. MockConsumer
 * commits; barriers are plain futures the test completes.
 */
class OffsetCommitterTest {

  static final TopicPartition P1 = new TopicPartition(Fakes.TOPIC, 1);
  final ManualClock clock = Fakes.clock();
  final Fakes.Kafka kafka = new Fakes.Kafka(P0, P1);
  final LoopContext ctx = Fakes.ctx(kafka, clock, new SimpleMeterRegistry());

  /** Metadata the test sets: P0's is unknown until {@code known}, then it carries {@code token}. */
  static final class Metadata implements OffsetCommitter.CommitMetadata {
    volatile boolean known = true;
    volatile String token = "";

    @Override
    public boolean known(TopicPartition tp) {
      return known || !tp.equals(P0);
    }

    @Override
    public String metadata(TopicPartition tp) {
      return tp.equals(P0) ? token : "";
    }
  }

  final Metadata metadata = new Metadata();
  final OffsetCommitter committer = new OffsetCommitter(ctx, Duration.ofSeconds(5), metadata);

  @Test
  void anOffsetWaitsForItsBarrierThenIsCommitted() {
    CompletableFuture<Void> barrier = new CompletableFuture<>();
    committer.due(P0, 3, barrier);
    committer.commitDue(false);
    assertEquals(-1, kafka.lastCommit(P0), "the changelog has not acknowledged the batch");
    assertTrue(committer.hasDue(P0));

    barrier.complete(null);
    committer.commitDue(false);
    assertEquals(3, kafka.lastCommit(P0));
    assertFalse(committer.hasDue(P0));
    assertEquals(3L, committer.committed(P0));
  }

  @Test
  void aFailedBarrierDropsItsOffsetAndALaterBatchBringsANewOne() {
    committer.due(P0, 3, CompletableFuture.failedFuture(new IllegalStateException("lane failed")));
    committer.commitDue(false);
    assertEquals(-1, kafka.lastCommit(P0));
    assertFalse(committer.hasDue(P0), "dropped");
    committer.due(P0, 5, CompletableFuture.completedFuture(null));
    committer.commitDue(false);
    assertEquals(5, kafka.lastCommit(P0));
  }

  @Test
  void aNewerOffsetOfAPartitionReplacesTheOneDue() {
    CompletableFuture<Void> first = new CompletableFuture<>();
    committer.due(P0, 3, first);
    committer.due(P0, 6, CompletableFuture.completedFuture(null));
    committer.commitDue(false);
    assertEquals(6, kafka.lastCommit(P0));
  }

  @Test
  void theFinalCommitWaitsBoundedForTheBarriers() {
    CompletableFuture<Void> late = new CompletableFuture<>();
    CompletableFuture.delayedExecutor(100, TimeUnit.MILLISECONDS).execute(() -> late.complete(null));
    CompletableFuture<Void> never = new CompletableFuture<>();
    committer.due(P0, 4, late);
    committer.due(P1, 9, never);
    // one wait for all barriers together, bounded: it ends when the bound passes (never completes)
    committer.commitDue(Duration.ofSeconds(2), Duration.ofSeconds(5));
    assertEquals(4, kafka.lastCommit(P0), "committed once its barrier completed within the wait");
    assertEquals(-1, kafka.lastCommit(P1), "a barrier not reached keeps its offset uncommitted");
    assertTrue(committer.hasDue(P1));
  }

  @Test
  void nothingIsCommittedWhileTheMetadataIsUnknownAndThenItCarriesTheToken() {
    metadata.known = false;
    committer.dueNow(P0, 2);
    committer.dueNow(P1, 7);
    committer.commitDue(false);
    assertEquals(-1, kafka.lastCommit(P0), "a commit now could erase a previous holder's token");
    assertEquals(7, kafka.lastCommit(P1), "other partitions are not held back");

    metadata.known = true;
    metadata.token = "token-of-the-previous-holder";
    committer.commitDue(false);
    assertEquals(2, kafka.lastCommit(P0));
    assertEquals("token-of-the-previous-holder",
        kafka.commits.get(kafka.commits.size() - 1).get(P0).metadata(), "carried on");
  }

  @Test
  void commitWithoutTokenCommitsTheLastOffsetAgainUnlessACommitIsDue() {
    committer.dueNow(P0, 4);
    committer.commitDue(false);
    int commits = kafka.commits.size();
    committer.dueNow(P0, 6);
    committer.commitWithoutToken(P0, 0);
    assertEquals(commits, kafka.commits.size(), "a commit of P0 is due anyway");
    committer.commitDue(false);
    committer.commitWithoutToken(P0, 0);
    assertEquals(Map.of(P0, new org.apache.kafka.clients.consumer.OffsetAndMetadata(6, "")),
        kafka.commits.get(kafka.commits.size() - 1), "the last committed offset, without metadata");
  }
}
