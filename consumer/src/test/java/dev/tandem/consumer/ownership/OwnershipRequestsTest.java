package dev.tandem.consumer.ownership;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.StubReplicationLog;
import dev.tandem.core.RegionId;
import dev.tandem.store.replication.CatchUpResult;
import dev.tandem.store.replication.ReplicationLag;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * The owning side of remote ownership requests ({@link OwnershipRequests}) on a manual clock, a real
 * store, an in-memory request channel and a changelog whose acknowledgements the test controls: once
 * per (request, shard), deadlines, requests not for this region, shards it does not serve, a failed
 * handover answered as such, and the record encoding.
 */
class OwnershipRequestsTest extends OwnerRegionFixture {


  OwnershipRequests requests(String instance) {
    return new OwnershipRequests(ownership, topic.reader(), instance, clock, meters);
  }

  OwnershipRequest request(String id, RegionId from, Set<Integer> shards, Duration timeout) {
    return new OwnershipRequest(id, from, from.equals(A) ? B : A, new TreeSet<>(shards),
        clock.wallMillis() + timeout.toMillis(), "test");
  }

  double count(String outcome) {
    return meters.find("tandem.ownership.requests").tag("outcome", outcome).counter().count();
  }

  @Test
  void anOwnerHandsEachRequestedShardOverOnceAndAnswers() {
    OwnershipRequests owner = requests("a-1");
    topic.request(request("r1", A, Set.of(0, 2), Duration.ofSeconds(10)));

    List<OwnershipResult> results = owner.act(Set.of(0, 1, 2, 3));

    assertEquals(2, results.size(), results.toString());
    for (OwnershipResult r : results) {
      assertTrue(r.moved(), r.toString());
      assertEquals(1, r.newEpoch());
      assertEquals("a-1", r.instance());
      assertEquals(B, ownership.lease(r.shard()).owner());
    }
    assertEquals(results, topic.results(), "each result is written to the channel");
    assertEquals(1, count("received"));
    assertEquals(2, count("acted"));
    assertEquals(2, meters.find("tandem.ownership.request.handover").tag("outcome", "moved")
        .timer().count());

    // re-delivered: nothing moves twice, nothing is answered twice
    topic.redeliverRequests();
    assertEquals(List.of(), owner.act(Set.of(0, 1, 2, 3)));
    assertEquals(1, ownership.lease(0).epoch());
    assertEquals(2, topic.results().size());
  }

  @Test
  void aRestartedInstanceReadingTheTopicAgainActsOnNothingAlreadyAnswered() {
    topic.request(request("r1", A, Set.of(0, 2), Duration.ofSeconds(10)));
    // the first instance serves shard 0 only: shard 2 waits for whoever serves it
    assertEquals(1, requests("a-1").act(Set.of(0)).size());
    assertEquals(A, ownership.lease(2).owner(), "a shard this instance does not serve stays");

    // a new instance reads the topic from the beginning: request and shard 0's result
    List<OwnershipResult> second = requests("a-2").act(Set.of(0, 2));
    assertEquals(1, second.size(), second.toString());
    assertEquals(2, second.get(0).shard());
    assertEquals(B, ownership.lease(2).owner());
    assertEquals(1, ownership.lease(0).epoch(), "shard 0 was not moved again");
  }

  @Test
  void aRequestPastItsDeadlineIsDroppedAndNothingMoves() {
    OwnershipRequests owner = requests("a-1");
    topic.request(request("late", A, Set.of(0), Duration.ofSeconds(5)));
    clock.setWallMillis(clock.wallMillis() + 5_000); // read exactly at its deadline

    assertEquals(List.of(), owner.act(Set.of(0, 2)));
    assertEquals(A, ownership.lease(0).owner());
    assertEquals(0, ownership.lease(0).epoch());
    assertEquals(1, count("expired"));
    assertEquals(0, count("acted"));
  }

  @Test
  void aPendingRequestWhoseDeadlinePassesBeforeTheShardIsServedMovesNothing() {
    OwnershipRequests owner = requests("a-1");
    topic.request(request("r1", A, Set.of(2), Duration.ofSeconds(5)));
    assertEquals(List.of(), owner.act(Set.of(0))); // read while shard 2 is not served here
    clock.setWallMillis(clock.wallMillis() + 6_000);

    assertEquals(List.of(), owner.act(Set.of(0, 2)), "the client gave up: nothing may move");
    assertEquals(A, ownership.lease(2).owner());
    assertEquals(0, count("expired"), "it was live when read");
  }

  @Test
  void aRequestForAnotherRegionOrAShardNotOwnedHereIsNotActedOn() {
    OwnershipRequests owner = requests("a-1");
    topic.request(request("for-b", B, Set.of(1, 3), Duration.ofSeconds(10)));
    assertEquals(List.of(), owner.act(Set.of(0, 1, 2, 3)));
    assertEquals(0, count("received"), "a request of the other region is not this region's");

    // names shard 1, which B owns: skipped and counted once, however often the loop turns
    topic.request(request("wrong", A, Set.of(1), Duration.ofSeconds(10)));
    assertEquals(List.of(), owner.act(Set.of(0, 1, 2, 3)));
    assertEquals(List.of(), owner.act(Set.of(0, 1, 2, 3)));
    assertEquals(1, count("ignored"));
    assertEquals(B, ownership.lease(1).owner());
    assertEquals(0, ownership.lease(1).epoch());
  }

  @Test
  void aHandoverThatTimesOutIsAnsweredAsFailedAndTheShardStays() {
    changelog.peerAcknowledges = false; // B's changelog never acknowledges A's changes
    OwnershipRequests owner = requests("a-1");
    topic.request(request("r1", A, Set.of(0), Duration.ofMillis(300)));

    List<OwnershipResult> results = owner.act(Set.of(0));

    assertEquals(1, results.size());
    assertFalse(results.get(0).moved(), results.toString());
    assertEquals(0, results.get(0).newEpoch());
    assertTrue(results.get(0).detail().contains("did not acknowledge"), results.get(0).detail());
    assertEquals(A, ownership.lease(0).owner());
    assertTrue(ownership.owns(0), "the owner processes the shard again");
    assertEquals(1, meters.find("tandem.ownership.request.handover").tag("outcome", "failed")
        .timer().count());
  }

  @Test
  void automaticFailbackLeavesAnEvacuatedShardAwayUntilItIsReturned() {
    // B fails shards back to their home region after it looked healthy for 1 s (fresh heartbeats)
    changelog.homeHeartbeatsFresh = true;
    ShardOwnership b = ShardOwnership.builder().region(B).regions(List.of(A, B)).store(store)
        .replicationLog(changelog).policy(OwnershipPolicy.manual()).clock(clock)
        .failbackAfter(Duration.ofSeconds(1)).meterRegistry(meters).build();
    // the operator evacuates A: shard 0 (home A) goes to B, marked as evacuated
    topic.request(OwnershipRequest.evacuation("evac", A, B, new TreeSet<>(Set.of(0)),
        clock.wallMillis() + 10_000, "test"));
    assertEquals(1, requests("a-1").act(Set.of(0)).size());
    assertEquals(B, ownership.lease(0).owner());
    assertEquals(java.util.Optional.of(A), ShardOwnership.evacuatedFrom(ownership.lease(0)),
        "a status reader sees the evacuation in the lease");

    // A stays healthy for far longer than failbackAfter, B renews its lease all along
    for (int i = 0; i < 10; i++) {
      b.pollLoop().heartbeat(0, i);
      assertEquals(java.util.Optional.empty(), b.pollLoop().failBackIfDue(0), "round " + i);
      clock.advance(Duration.ofSeconds(1));
    }
    assertEquals(B, ownership.lease(0).owner(), "the evacuation holds until a return");
    assertEquals(java.util.Optional.of(A), ShardOwnership.evacuatedFrom(ownership.lease(0)),
        "renewals keep the mark");
    assertTrue(meters.find("tandem.consumer.failbacks").tag("outcome", "held").counter().count()
        >= 1, "the held failback is counted");

    // return: B hands shard 0 back; the mark is gone with the new lease
    topic.request(new OwnershipRequest("ret", B, A, new TreeSet<>(Set.of(0)),
        clock.wallMillis() + 10_000, "test"));
    assertEquals(1, new OwnershipRequests(b, topic.reader(), "b-1", clock, meters)
        .act(Set.of(0)).size());
    assertEquals(A, ownership.lease(0).owner());
    assertEquals(java.util.Optional.empty(), ShardOwnership.evacuatedFrom(ownership.lease(0)));

    // after the return the failback rules apply again: a takeover by B is failed back
    b.takeOver(0, "test: A looked dead");
    assertEquals(B, ownership.lease(0).owner());
    java.util.Optional<HandoverReport> back = java.util.Optional.empty();
    for (int i = 0; i < 5 && back.isEmpty(); i++) {
      back = b.pollLoop().failBackIfDue(0);
      clock.advance(Duration.ofSeconds(1));
    }
    assertTrue(back.isPresent() && back.get().moved(), String.valueOf(back));
    assertEquals(A, ownership.lease(0).owner());
  }

  @Test
  void aHandoverInProgressDoesNotBlockAnotherConsumersCallForItsOwnShards() throws Exception {
    // two consumers of one region object (two topics) share one OwnershipRequests; consumer 1's
    // handover of shard 0 waits for B's acknowledgement, which the test holds back
    CompletableFuture<Void> ackOf0 = new CompletableFuture<>();
    changelog.barrierOf0 = ackOf0;
    OwnershipRequests shared = requests("a-1");
    topic.request(request("r0", A, Set.of(0), Duration.ofSeconds(30)));
    topic.request(request("r2", A, Set.of(2), Duration.ofSeconds(30)));
    CompletableFuture<List<OwnershipResult>> first =
        CompletableFuture.supplyAsync(() -> shared.act(Set.of(0)));
    await().atMost(Duration.ofSeconds(10)).until(() -> changelog.barriersOf0.get() > 0);

    // consumer 2, between its batches, serves shard 2: it must not wait for shard 0's handover
    // (its loop would stop renewing its own shards' leases meanwhile)
    List<OwnershipResult> second = assertTimeoutPreemptively(Duration.ofSeconds(5),
        () -> shared.act(Set.of(2)));
    assertEquals(1, second.size(), second.toString());
    assertEquals(2, second.get(0).shard());
    assertEquals(B, ownership.lease(2).owner());
    assertFalse(first.isDone(), "shard 0's handover is still waiting for B");

    ackOf0.complete(null);
    List<OwnershipResult> r0 = first.get(10, java.util.concurrent.TimeUnit.SECONDS);
    assertEquals(1, r0.size(), r0.toString());
    assertTrue(r0.get(0).moved(), r0.toString());
    assertEquals(B, ownership.lease(0).owner());
    assertEquals(List.of(), shared.act(Set.of(0, 2)), "each shard answered once");
    assertEquals(2, topic.results().size());
  }

  @Test
  void aRestartedInstanceActsOnlyOnceItHasReadTheResultsWrittenBeforeIt() {
    // a-1's handover of shard 0 fails early (B's changelog refuses), well before the deadline: the
    // client reads FAILED and reports it; the shard stays with A
    changelog.barrierOf0 = CompletableFuture.failedFuture(new IllegalStateException("refused"));
    topic.request(request("r1", A, Set.of(0), Duration.ofSeconds(30)));
    List<OwnershipResult> failed = requests("a-1").act(Set.of(0));
    assertEquals(1, failed.size());
    assertFalse(failed.get(0).moved(), failed.toString());
    changelog.barrierOf0 = null; // B acknowledges again

    // a-1 restarts: its reader reads the topic from the beginning, one record at a time; the
    // request arrives before the FAILED result that follows it
    OwnershipRequests restarted = new OwnershipRequests(ownership, topic.slowReader(), "a-1", clock,
        meters);
    for (int i = 0; i < 4; i++) {
      assertEquals(List.of(), restarted.act(Set.of(0)), "call " + i);
    }
    assertEquals(A, ownership.lease(0).owner(), "not moved after the client was told FAILED");
    assertEquals(0, ownership.lease(0).epoch());
    assertEquals(1, topic.results().size(), "answered once");
  }

  @Test
  void recordsSurviveTheirEncodingAndBadOnesAreRefused() {
    OwnershipRequest q = request("id-1", A, Set.of(3, 0, 11), Duration.ofSeconds(30));
    assertEquals(q, OwnershipRequest.decode(q.encode()));
    assertEquals(q, OwnershipRecords.decode(q.encode()));
    assertEquals("request|id-1", q.key());
    OwnershipResult r = new OwnershipResult("id-1", 11, A, B, true, 4, 35, "a-1",
        "handed over at epoch 4\nafter region-b acknowledged = every change");
    assertEquals(r, OwnershipResult.decode(r.encode()));
    assertEquals(r, OwnershipRecords.decode(r.encode()));
    assertEquals("result|id-1|11", r.key());
    assertThrows(IllegalArgumentException.class, () -> OwnershipRecords.decode("kind=other\n"));
    assertThrows(IllegalArgumentException.class, () -> OwnershipRequest.decode(r.encode()));
    assertThrows(IllegalArgumentException.class,
        () -> new OwnershipRequest("x", A, A, new TreeSet<>(Set.of(0)), 0, "t"));
    assertThrows(IllegalArgumentException.class,
        () -> new OwnershipRequest("x", A, B, new TreeSet<>(), 0, "t"));
  }

  /** An in-memory request topic: every reader reads it from the beginning, as the Kafka one does. */
  static final class Topic {
    final List<Object> records = new ArrayList<>();

    synchronized void request(OwnershipRequest q) {
      records.add(q);
    }

    synchronized List<OwnershipResult> results() {
      return records.stream().filter(o -> o instanceof OwnershipResult)
          .map(o -> (OwnershipResult) o).toList();
    }

    /** Appends every request again (a producer's retry, a copy written twice). */
    synchronized void redeliverRequests() {
      records.addAll(records.stream().filter(o -> o instanceof OwnershipRequest).toList());
    }

    /**
     * A reader like the Kafka one right after a restart: it hands over one record per poll and is
     * caught up once it has read every record that was there when it opened.
     */
    OwnershipRequestChannel slowReader() {
      OwnershipRequestChannel all = reader();
      int existing;
      synchronized (this) {
        existing = records.size();
      }
      return new OwnershipRequestChannel() {
        final java.util.ArrayDeque<Object> buffered = new java.util.ArrayDeque<>();
        int read;

        @Override
        public List<Object> poll() {
          buffered.addAll(all.poll());
          if (buffered.isEmpty()) {
            return List.of();
          }
          read++;
          return List.of(buffered.poll());
        }

        @Override
        public boolean caughtUp() {
          return read >= existing;
        }

        @Override
        public void answer(OwnershipResult result) {
          all.answer(result);
        }

        @Override
        public long request(OwnershipRequest request) {
          return all.request(request);
        }

        @Override
        public void close() {}
      };
    }

    OwnershipRequestChannel reader() {
      return new OwnershipRequestChannel() {
        int next;

        @Override
        public List<Object> poll() {
          synchronized (Topic.this) {
            List<Object> out = new ArrayList<>(records.subList(next, records.size()));
            next = records.size();
            return out;
          }
        }

        @Override
        public void answer(OwnershipResult result) {
          synchronized (Topic.this) {
            records.add(result);
          }
        }

        @Override
        public long request(OwnershipRequest request) {
          synchronized (Topic.this) {
            records.add(request);
            return records.size() - 1;
          }
        }

        @Override
        public void close() {}
      };
    }
  }

  /** A changelog that acknowledges at once, or (for the peer) never. */
  static final class Changelog extends StubReplicationLog {
    volatile boolean peerAcknowledges = true;
    /** When set: B's acknowledgement of shard 0's changes (held back by the test). */
    volatile CompletableFuture<Void> barrierOf0;
    final java.util.concurrent.atomic.AtomicInteger barriersOf0 =
        new java.util.concurrent.atomic.AtomicInteger();
    /** Whether the other region's heartbeats look fresh (for failback). */
    volatile boolean homeHeartbeatsFresh;

    Changelog() {
      super(Set.of(0, 1, 2, 3));
    }

    @Override
    public CompletableFuture<Void> barrier(int shard, RegionId region) {
      if (shard == 0 && region.equals(B) && barrierOf0 != null) {
        barriersOf0.incrementAndGet();
        return barrierOf0;
      }
      return region.equals(B) && !peerAcknowledges ? new CompletableFuture<>()
          : CompletableFuture.completedFuture(null);
    }

    @Override
    public CatchUpResult catchUp(RegionId region, Set<Integer> shards, Duration timeout) {
      return new CatchUpResult(region, shards, true, 0, Duration.ZERO, null);
    }

    @Override
    public ReplicationLag lag(RegionId origin) {
      return homeHeartbeatsFresh
          ? new ReplicationLag(origin, Duration.ZERO, 0, Duration.ZERO, 1)
          : new ReplicationLag(origin, null, 0, null, 0);
    }
  }
}
