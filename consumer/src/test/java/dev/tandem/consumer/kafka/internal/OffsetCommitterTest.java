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

  // ---- a turn's commit is sent with commitAsync (issue 20); answered later, on the loop thread ----

  double failures(boolean retried) {
    return ctx.meters().counter(dev.tandem.consumer.ConsumerMeterNames.OFFSET_COMMIT_FAILURES,
        "region", Fakes.B.name(), "retried", Boolean.toString(retried)).count();
  }

  @Test
  void aTurnsCommitIsSentWithoutWaitingAndCountsAsCommittedOnlyOnceAnswered() {
    kafka.deferAnswers = true;
    committer.dueNow(P0, 3);
    committer.commitDue(false);
    assertEquals(0, kafka.blockingCommits.get(), "the turn does not wait for the coordinator");
    assertEquals(3, kafka.lastCommit(P0), "sent");
    assertFalse(committer.hasDue(P0));
    assertEquals(null, committer.committed(P0), "not answered yet");
    kafka.answerNext(null);
    assertEquals(null, committer.committed(P0), "the answer's callback runs in a later call");
    kafka.poll(Duration.ZERO);
    assertEquals(3L, committer.committed(P0));
    assertEquals(0, committer.inFlight());
  }

  @Test
  void aPartitionGivenUpWhileItsCommitIsInFlightIsNeitherRecordedNorSentAgain() {
    kafka.deferAnswers = true;
    committer.dueNow(P0, 3);
    committer.dueNow(P1, 4);
    committer.commitDue(false);
    committer.forget(P0); // revoked or lost before the answer
    kafka.answerNext(null);
    kafka.poll(Duration.ZERO);
    assertEquals(null, committer.committed(P0), "the answer of a partition given up is not recorded");
    assertEquals(4L, committer.committed(P1));

    committer.dueNow(P1, 5);
    committer.commitDue(false);
    committer.forget(P1);
    kafka.answerNext(new org.apache.kafka.clients.consumer.RetriableCommitFailedException("moved"));
    kafka.poll(Duration.ZERO);
    assertFalse(committer.hasDue(P1), "a failed offset of a partition given up is not sent again");
    int sent = kafka.commits.size();
    committer.commitDue(false);
    assertEquals(sent, kafka.commits.size(), "nothing of a partition given up is committed later");
  }

  @Test
  void aRetriableFailureOfTheNewestOffsetSentMakesItDueAgainAnOlderOneIsSuperseded() {
    kafka.deferAnswers = true;
    committer.dueNow(P0, 3);
    committer.commitDue(false);
    committer.dueNow(P0, 5);
    committer.commitDue(false);
    var retriable = new org.apache.kafka.clients.consumer.RetriableCommitFailedException("moved");
    kafka.answerNext(retriable); // 3
    kafka.poll(Duration.ZERO);
    assertFalse(committer.hasDue(P0), "3 is superseded by 5, sent after it (never sent again)");
    assertEquals(1, failures(false));
    kafka.answerNext(retriable); // 5
    kafka.poll(Duration.ZERO);
    assertTrue(committer.hasDue(P0), "the newest offset sent failed: due again");
    assertEquals(1, failures(true));
    committer.commitDue(false);
    assertEquals(5, kafka.lastCommit(P0), "sent again by the next turn");
    kafka.answerNext(null);
    kafka.poll(Duration.ZERO);
    assertEquals(5L, committer.committed(P0));

  }

  @Test
  void aNonRetriableFailureOfTheNewestOffsetIsDueAgainUnlessFatal() {
    kafka.deferAnswers = true;
    // a rebalance in progress / generation changed, for a partition this member keeps: nobody else
    // commits it, so the next turn sends it again
    committer.dueNow(P0, 8);
    committer.commitDue(false);
    kafka.answerNext(new org.apache.kafka.clients.consumer.CommitFailedException("rebalanced"));
    kafka.poll(Duration.ZERO);
    assertTrue(committer.hasDue(P0), "not fatal: due again");
    assertEquals(1, failures(true));
    committer.commitDue(false);
    kafka.answerNext(null);
    kafka.poll(Duration.ZERO);
    assertEquals(8, kafka.groupHas(P0));

    // fatal (the member is fenced): sending it again cannot help
    committer.dueNow(P0, 9);
    committer.commitDue(false);
    kafka.answerNext(new org.apache.kafka.common.errors.FencedInstanceIdException("fenced"));
    kafka.poll(Duration.ZERO);
    assertFalse(committer.hasDue(P0), "fatal: dropped");
    assertEquals(8L, committer.committed(P0), "the group still has 8");
    assertEquals(1, failures(false));
  }

  @Test
  void aBlockingCommitAfterAsyncOnesWaitsForTheirAnswersEvenWithNothingDue() {
    kafka.deferAnswers = true;
    committer.dueNow(P0, 3);
    committer.commitDue(false);
    assertEquals(1, committer.inFlight());
    // the revoke's commit: nothing due, but a commit in flight whose answer the hand-off needs
    committer.commitDue(Duration.ZERO, Duration.ofSeconds(1));
    assertEquals(1, kafka.blockingCommits.get());
    assertEquals(3L, committer.committed(P0), "answered before the blocking commit returned");
    assertEquals(0, committer.inFlight());
    committer.commitDue(Duration.ZERO, Duration.ofSeconds(1));
    assertEquals(1, kafka.blockingCommits.get(), "nothing due, nothing in flight: no call");
  }

  @Test
  void commitWithoutTokenNeverGoesBackBehindAnAsyncCommitInFlight() {
    kafka.deferAnswers = true;
    committer.dueNow(P0, 2);
    committer.commitDue(false);
    kafka.answerNext(null);
    kafka.poll(Duration.ZERO);
    metadata.token = "T"; // a previous holder's token, carried by the turn's commits meanwhile
    committer.dueNow(P0, 6);
    committer.commitDue(false); // in flight, carrying the token
    assertEquals(new org.apache.kafka.clients.consumer.OffsetAndMetadata(6, "T"),
        kafka.commits.get(kafka.commits.size() - 1).get(P0));
    metadata.token = ""; // the marker was read: the token is no longer needed
    committer.commitWithoutToken(P0, 0);
    assertEquals(0, kafka.unanswered(), "the async commit carrying the token was answered first");
    assertEquals(Map.of(P0, new org.apache.kafka.clients.consumer.OffsetAndMetadata(6, "")),
        kafka.commits.get(kafka.commits.size() - 1),
        "the newest offset sent, without metadata, landing after the one carrying the token");
    assertEquals(new org.apache.kafka.clients.consumer.OffsetAndMetadata(6, ""),
        kafka.committed(java.util.Set.of(P0)).get(P0), "the group has no token left");
    assertEquals(6L, committer.committed(P0));
  }

  @Test
  void theFinalCommitLeavesNoAsyncCommitUnanswered() {
    kafka.deferAnswers = true;
    committer.dueNow(P0, 3);
    committer.commitDue(false);
    committer.dueNow(P1, 7);
    committer.finalCommit();
    assertEquals(0, kafka.unanswered());
    assertEquals(3L, committer.committed(P0));
    assertEquals(7L, committer.committed(P1));
  }

  @Test
  void aRetriableFailureAnsweredDuringTheFinalCommitIsCommittedBeforeTheStopReturns() {
    kafka.deferAnswers = true;
    committer.dueNow(P0, 3);
    committer.commitDue(false); // the last turn's commit, in flight
    // the coordinator moved: the answer, run inside the final commit's commitSync, is a failure
    kafka.errorsAtBlockingCommit.add(
        new org.apache.kafka.clients.consumer.RetriableCommitFailedException("coordinator moved"));
    committer.finalCommit();
    assertEquals(3, kafka.groupHas(P0), "no next turn comes: the stop commits it again");
    assertEquals(3L, committer.committed(P0));
    assertFalse(committer.hasDue(P0));
    assertEquals(0, kafka.unanswered());
  }
}
