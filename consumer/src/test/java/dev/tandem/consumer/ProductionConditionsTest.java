package dev.tandem.consumer;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.TandemIds;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.RecordKey;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import dev.tandem.store.spi.ReplicaStore;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The promise under ordinary production conditions (issue 14, defects 7-11): a slow changelog, a
 * store TTL shorter than the default, a close while a handler runs, a renewal racing the completion,
 * an instance killed inside a handler.
 */
class ProductionConditionsTest {

  static final long START = 1_700_000_000_000L;

  @TempDir Path dir;
  @TempDir Path dir2;
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  final CollectingDeadLetterSink sink = new CollectingDeadLetterSink();
  final List<AutoCloseable> toClose = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = toClose.size() - 1; i >= 0; i--) {
      toClose.get(i).close();
    }
  }

  IdempotencyStore store(Path d, String instance, Consumer<dev.tandem.store.RocksIdempotencyStore.Builder> opts) {
    var b = IdempotencyStore.builder().region(TestRegions.A).instance(instance).directory(d);
    opts.accept(b);
    IdempotencyStore s = b.build();
    toClose.add(s);
    return s;
  }

  OnceProcessor processor(IdempotencyStore store, Consumer<OnceProcessor.Builder> opts) {
    OnceProcessor.Builder b = OnceProcessor.builder().store(store).deadLetterSink(sink)
        .meterRegistry(registry);
    opts.accept(b);
    OnceProcessor p = b.build();
    toClose.add(p);
    return p;
  }

  static IncomingMessage message(String id, String payload, long publishedAt) {
    return OnceProcessorTest.message(id, payload, publishedAt);
  }

  double count(String name) {
    return registry.find(name).counters().stream().mapToDouble(c -> c.count()).sum();
  }

  // ------------------------------------------------------------------ defect 7

  /**
   * A changelog that does not acknowledge in time: no handler ever runs while its claim is in no
   * changelog — neither in the batch that timed out nor in the batches right after it (which used to
   * skip the wait for one timeout) — and the records come back (try later) and run once the claims
   * are durable, as the same attempt.
   */
  @Test
  void handlersNeverRunBeforeTheirClaimsAreDurable() throws Exception {
    IdempotencyStore store = store(dir, "i1", b -> {});
    AtomicReference<CompletableFuture<Void>> barrier = new AtomicReference<>(new CompletableFuture<>());
    AtomicInteger ranNotDurable = new AtomicInteger();
    AtomicInteger ran = new AtomicInteger();
    OnceProcessor p = processor(store, b -> b.claimsDurable(shard -> barrier.get(), Duration.ofMillis(200)));
    MessageHandler handler = ctx -> {
      ran.incrementAndGet();
      if (!barrier.get().isDone()) {
        ranNotDurable.incrementAndGet();
      }
      assertEquals(1, ctx.attempt(), "a claim that waited for durability is resumed, not re-attempted");
    };
    String first = TandemIds.newId();
    String second = TandemIds.newId();
    Outcome o1 = p.process(message(first, "1", System.currentTimeMillis()), handler);
    Outcome o2 = p.process(message(second, "2", System.currentTimeMillis()), handler);
    assertEquals(0, ranNotDurable.get(), "handlers ran while their claims were in no changelog; outcomes "
        + o1 + ", " + o2);
    Outcome.RetryLater r1 = assertInstanceOf(Outcome.RetryLater.class, o1);
    assertEquals(Outcome.RetryReason.CLAIMS_NOT_DURABLE, r1.reason());
    assertFalse(r1.settled());
    assertEquals(Outcome.RetryReason.CLAIMS_NOT_DURABLE,
        assertInstanceOf(Outcome.RetryLater.class, o2).reason());
    assertEquals(2.0, count("tandem.consumer.claims.not.durable"));
    assertEquals(Phase.CLAIMED, store.get(first, 0).orElseThrow().phase(), "the claim stays, parked");

    // the changelog acknowledges: the redelivered copies run, under the attempt they were claimed with
    barrier.get().complete(null);
    assertInstanceOf(Outcome.Processed.class, p.process(message(first, "1", System.currentTimeMillis()), handler));
    assertInstanceOf(Outcome.Processed.class, p.process(message(second, "2", System.currentTimeMillis()), handler));
    assertEquals(2, ran.get());
    assertEquals(0, ranNotDurable.get());
    assertEquals(0.0, count("tandem.consumer.reclaimed.expired"), "no handler had run: nothing re-ran");
  }

  // ------------------------------------------------------------------ defect 8

  /** STALE protection follows the store's TTL: a copy older than a short store TTL is STALE. */
  @Test
  void stalenessIsJudgedAgainstTheStoresTtl() {
    ManualClock clock = new ManualClock(START);
    IdempotencyStore store = store(dir, "i1", b -> b.clock(clock).ttl(Duration.ofDays(1)));
    OnceProcessor p = processor(store, b -> b.clock(clock));
    AtomicInteger ran = new AtomicInteger();
    String id = TandemIds.newId();
    long twoDaysAgo = START - Duration.ofDays(2).toMillis();
    Outcome o = p.process(message(id, "old", twoDaysAgo), ctx -> ran.incrementAndGet());
    assertEquals(0, ran.get(), "a copy older than the store's TTL ran blindly: " + o);
    assertEquals(DeadLetterReason.STALE, assertInstanceOf(Outcome.DeadLettered.class, o).reason());
    // well inside the TTL: processed
    String fresh = TandemIds.newId();
    assertInstanceOf(Outcome.Processed.class,
        p.process(message(fresh, "ok", START - Duration.ofHours(12).toMillis()), ctx -> ran.incrementAndGet()));
  }

  // ------------------------------------------------------------------ defect 9

  /**
   * {@code close()} returns after its timeout while a handler still runs: the handler's claim stays
   * renewed until the handler returns (it does not expire under it), then the renewals stop.
   */
  @Test
  void closeKeepsRenewingTheClaimsOfHandlersStillRunning() throws Exception {
    IdempotencyStore store = store(dir, "i1", b -> {});
    OnceProcessor p = processor(store, b -> b.claimLease(Duration.ofSeconds(1))
        .renewEvery(Duration.ofMillis(50)).closeTimeout(Duration.ofMillis(100)));
    String id = TandemIds.newId();
    AtomicInteger claimWrites = new AtomicInteger();
    store.addListener(new StoreListener() {
      @Override
      public void onRecord(IdRecord record, WriteOrigin origin) {
        if (record.id().equals(id) && record.phase() == Phase.CLAIMED) {
          claimWrites.incrementAndGet();
        }
      }
    });
    CountDownLatch running = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CompletableFuture<Outcome> slow = CompletableFuture.supplyAsync(() -> p.process(
        message(id, "p", System.currentTimeMillis()), ctx -> {
          running.countDown();
          assertTrue(release.await(60, TimeUnit.SECONDS));
        }));
    try {
      assertTrue(running.await(30, TimeUnit.SECONDS));
      p.close(); // returns after the 100 ms close timeout: the handler outlives it
      int atClose = claimWrites.get();
      String later = TandemIds.newId();
      assertEquals(Outcome.RetryReason.CLOSED, assertInstanceOf(Outcome.RetryLater.class,
          p.process(message(later, "q", System.currentTimeMillis()), ctx -> { })).reason());
      assertTrue(store.get(later, 0).isEmpty(), "a closed processor claims nothing");
      // 25 more renewals: at least 1.25 s after close, longer than the 1 s lease (the renewal
      // period is a twentieth of the lease, so a loaded machine does not expire it by starvation)
      await().atMost(Duration.ofSeconds(30)).until(() -> claimWrites.get() >= atClose + 25);
      assertInstanceOf(ClaimResult.InProgress.class,
          store.claim(id, 0, PayloadDigest.of("p".getBytes(StandardCharsets.UTF_8)), 0,
              Duration.ofSeconds(1)),
          "the running handler's claim is still live after close");
    } finally {
      release.countDown();
    }
    Outcome.Processed done = assertInstanceOf(Outcome.Processed.class, slow.get(30, TimeUnit.SECONDS));
    assertFalse(done.claimLost());
    assertEquals(Phase.COMPLETED, store.get(id, 0).orElseThrow().phase());
  }

  // ------------------------------------------------------------------ defect 10

  /**
   * A renewal that was under way when the handler finished reads the record after its completion:
   * that claim ended by this claimant's own completion, it was not lost.
   */
  @Test
  void aRenewalThatSeesItsOwnCompletionIsNotAClaimLost() throws Exception {
    IdempotencyStore real = store(dir, "i1", b -> {});
    List<Runnable> renewalsUnderWay = new CopyOnWriteArrayList<>();
    // the store's complete() returns only after the renewal steps captured mid-handler have run:
    // exactly the interleaving of a renewal racing the completion
    IdempotencyStore racing = (IdempotencyStore) Proxy.newProxyInstance(
        IdempotencyStore.class.getClassLoader(), new Class<?>[] {IdempotencyStore.class},
        (proxy, method, args) -> {
          try {
            Object out = method.invoke(real, args);
            if (method.getName().equals("complete")) {
              renewalsUnderWay.forEach(Runnable::run);
            }
            return out;
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
    AtomicReference<OnceProcessor> ref = new AtomicReference<>();
    OnceProcessor p = processor(racing, b -> {});
    ref.set(p);
    String id = TandemIds.newId();
    String err = captureStderr(() -> {
      Outcome o = p.process(message(id, "p", System.currentTimeMillis()),
          ctx -> renewalsUnderWay.addAll(ref.get().renewalStepsForTest()));
      assertFalse(assertInstanceOf(Outcome.Processed.class, o).claimLost());
    });
    assertEquals(1, renewalsUnderWay.size(), "one live claim while the handler ran");
    assertEquals(0.0, count("tandem.consumer.claims.lost"));
    assertFalse(err.contains("was lost"), "no false 'claim lost' warning: " + err);
  }

  // ------------------------------------------------------------------ defect 11

  /**
   * An instance killed inside a handler: after the claim lease another instance of the region claims
   * the id again and runs it — a duplicate nothing else reports. It is reported: the handler sees
   * attempt 2 and what it superseded, the meter {@code tandem.consumer.reclaimed.expired} counts it,
   * and a WARN names the id, the old claimant and its attempt.
   */
  @Test
  void aReclaimOfAnExpiredClaimIsReportedToOperatorsAndTheHandler() throws Exception {
    ManualClock clock = new ManualClock(START);
    Duration lease = Duration.ofSeconds(10);
    IdempotencyStore s1 = store(dir, "i1", b -> b.clock(clock));
    IdempotencyStore s2 = store(dir2, "i2", b -> b.clock(clock));
    OnceProcessor p1 = processor(s1, b -> b.clock(clock).claimLease(lease));
    OnceProcessor p2 = processor(s2, b -> b.clock(clock).claimLease(lease));
    String id = TandemIds.newId();
    IncomingMessage m = message(id, "order", START);
    // instance 1 is killed inside its handler: nothing after the handler's first line runs
    Error killed = new Error("SIGKILL");
    Error thrown = null;
    try {
      p1.process(m, ctx -> {
        throw killed;
      });
    } catch (Error e) {
      thrown = e;
    }
    assertEquals(killed, thrown);
    IdRecord left = s1.get(id, 0).orElseThrow();
    assertEquals(Phase.CLAIMED, left.phase());
    ReplicaStore.of(s2).applyRemote(left); // the changelog carries the claim to instance 2's store
    clock.advance(lease.plusSeconds(1));

    AtomicReference<ProcessingContext> seen = new AtomicReference<>();
    String err = captureStderr(() -> assertInstanceOf(Outcome.Processed.class,
        p2.process(m, seen::set)));
    assertEquals(2, seen.get().attempt());
    assertEquals(1.0, count("tandem.consumer.reclaimed.expired"), "the re-run is counted");
    ClaimResult.PreviousClaim prev = seen.get().previousClaim().orElseThrow();
    assertEquals(ClaimResult.PreviousClaim.Reason.LEASE_EXPIRED, prev.reason());
    assertEquals("region-a/i1", prev.owner().toString());
    assertEquals(1, prev.attempt());
    String warn = err.lines().filter(l -> l.contains("WARN") && l.contains(id)).findFirst()
        .orElse("");
    assertTrue(warn.contains("region-a/i1") && warn.contains("attempt 1"),
        "a WARN names the id, the old claimant and its attempt; stderr was: " + err);
    // a first claim supersedes nothing
    String other = TandemIds.newId();
    AtomicReference<ProcessingContext> firstCtx = new AtomicReference<>();
    p2.process(message(other, "x", START), firstCtx::set);
    assertTrue(firstCtx.get().previousClaim().isEmpty());
  }

  // ------------------------------------------------------------------ review of fix/b (helper B2)

  static final CompletableFuture<Void> NEVER = new CompletableFuture<>();

  static RecordKey key(String id) {
    return new RecordKey(0, id);
  }

  /**
   * Finding 1: a rebalance takes shard 0 from instance 1 while it holds a parked claim (its changelog
   * did not acknowledge). Forgetting the shard releases the claim, so the next instance of the region
   * runs the message at once — not after the claim lease — and reports no re-run (the parked claim's
   * handler never ran).
   */
  @Test
  void aRevokedShardsParkedClaimsAreReleasedSoTheNextInstanceRunsThemAtOnce() throws Exception {
    ManualClock clock = new ManualClock(START);
    IdempotencyStore s1 = store(dir, "i1", b -> b.clock(clock));
    IdempotencyStore s2 = store(dir2, "i2", b -> b.clock(clock));
    OnceProcessor p1 = processor(s1, b -> b.clock(clock)
        .claimsDurable(shard -> NEVER, Duration.ofMillis(50)));
    OnceProcessor p2 = processor(s2, b -> b.clock(clock));
    String id = TandemIds.newId();
    IncomingMessage m = message(id, "order", START);
    AtomicInteger ranOn1 = new AtomicInteger();
    assertEquals(Outcome.RetryReason.CLAIMS_NOT_DURABLE, assertInstanceOf(Outcome.RetryLater.class,
        p1.process(m, ctx -> ranOn1.incrementAndGet())).reason());
    assertEquals(Set.of(key(id)), p1.parkedKeysForTest());

    p1.forgetShards(Set.of(0)); // the rebalance listener: shard 0 revoked from instance 1
    assertEquals(Set.of(), p1.parkedKeysForTest(), "a forgotten shard keeps no parked claim");
    ReplicaStore.of(s2).applyRemote(s1.get(id, 0).orElseThrow()); // flush-then-drop: instance 2 sees the last write

    AtomicReference<ProcessingContext> seen = new AtomicReference<>();
    String err = captureStderr(() -> {
      Outcome o = p2.process(m, seen::set);
      assertInstanceOf(Outcome.Processed.class, o,
          "the next instance runs the message at once, not after instance 1's claim lease: " + o);
    });
    assertEquals(0, ranOn1.get());
    assertEquals(ClaimResult.PreviousClaim.Reason.RELEASED,
        seen.get().previousClaim().orElseThrow().reason());
    assertEquals(0.0, count("tandem.consumer.reclaimed.expired"), "a parked claim is no re-run");
    assertFalse(err.contains("re-runs"), "no re-run WARN: " + err);
  }

  /** Finding 1: closing the processor releases its parked claims (the store outlives it). */
  @Test
  void closingTheProcessorReleasesItsParkedClaims() {
    IdempotencyStore s1 = store(dir, "i1", b -> {});
    OnceProcessor p1 = processor(s1, b -> b.claimsDurable(shard -> NEVER, Duration.ofMillis(50)));
    String id = TandemIds.newId();
    assertInstanceOf(Outcome.RetryLater.class,
        p1.process(message(id, "order", System.currentTimeMillis()), ctx -> { }));
    assertEquals(Phase.CLAIMED, s1.get(id, 0).orElseThrow().phase());
    p1.close();
    assertEquals(Phase.RELEASED, s1.get(id, 0).orElseThrow().phase(),
        "a closed processor leaves no parked claim to expire");
  }

  /**
   * Finding 1: a parked entry leaves the map when its id moves on without it (here: completed by
   * another instance, so the redelivery is a suppressed duplicate) and when its shard is fenced.
   */
  @Test
  void aParkedClaimIsForgottenWhenItsIdMovesOnOrItsShardIsFenced() {
    IdempotencyStore s1 = store(dir, "i1", b -> {});
    IdempotencyStore s2 = store(dir2, "i2", b -> {});
    AtomicBoolean holds = new AtomicBoolean(true);
    OnceProcessor p = processor(s1, b -> b.claimsDurable(shard -> NEVER, Duration.ofMillis(50))
        .fence((shard, epoch) -> holds.get()));
    String done = TandemIds.newId();
    String fenced = TandemIds.newId();
    long now = System.currentTimeMillis();
    p.process(message(done, "d", now), ctx -> { });
    p.process(message(fenced, "f", now), ctx -> { });
    assertEquals(Set.of(key(done), key(fenced)), p.parkedKeysForTest());

    // another instance completed `done` (its claim expired here, say); the changelog brings it
    s2.claim(done, 0, PayloadDigest.of("d".getBytes(StandardCharsets.UTF_8)), 0, Duration.ofSeconds(60));
    s2.complete(done, 0, null);
    ReplicaStore.of(s1).applyRemote(s2.get(done, 0).orElseThrow());
    assertInstanceOf(Outcome.Skipped.class, p.process(message(done, "d", now), ctx -> { }));
    assertFalse(p.parkedKeysForTest().contains(key(done)), "dropped on AlreadyCompleted");

    holds.set(false); // a takeover: this instance no longer holds shard 0
    assertEquals(Outcome.RetryReason.FENCED, assertInstanceOf(Outcome.RetryLater.class,
        p.process(message(fenced, "f", now), ctx -> { })).reason());
    assertEquals(Set.of(), p.parkedKeysForTest(), "dropped on FENCED");
  }

  /**
   * Finding 1: the parked map is not a leak: entries older than twice the claim lease go (their
   * lease has long run out), and when it is full the oldest claim is released to make room instead
   * of silently parking nothing more.
   */
  @Test
  void parkedClaimsAreEvictedByAgeAndTheOldestMakesRoomWhenFull() {
    ManualClock clock = new ManualClock(START);
    Duration lease = Duration.ofSeconds(10);
    IdempotencyStore s = store(dir, "i1", b -> b.clock(clock));
    OnceProcessor p = processor(s, b -> b.clock(clock).claimLease(lease).maxParked(2)
        .claimsDurable(shard -> NEVER, Duration.ofMillis(50)));
    String a = TandemIds.newId();
    String b2 = TandemIds.newId();
    String c = TandemIds.newId();
    String d = TandemIds.newId();
    p.process(message(a, "a", START), ctx -> { });
    clock.advance(Duration.ofSeconds(1));
    p.process(message(b2, "b", START), ctx -> { });
    clock.advance(Duration.ofSeconds(1));
    p.process(message(c, "c", START), ctx -> { });
    assertEquals(Set.of(key(b2), key(c)), p.parkedKeysForTest(),
        "full: the oldest parked claim makes room for the newest");
    assertEquals(Phase.RELEASED, s.get(a, 0).orElseThrow().phase(), "the evicted claim is released");

    clock.advance(lease.multipliedBy(2).plusSeconds(1));
    p.process(message(d, "d", START), ctx -> { });
    assertEquals(Set.of(key(d)), p.parkedKeysForTest(), "entries older than 2 x claimLease are gone");
    assertEquals(Phase.RELEASED, s.get(b2, 0).orElseThrow().phase(),
        "an aged-out claim still ours is released: its handler never ran");
  }

  /**
   * Finding 2: close() returns (its timeout) while the first handler of a batch still runs. The rest
   * of the batch was claimed up front, but none of their handlers may start after close returned:
   * they answer CLOSED and their claims are released for the next instance.
   */
  @Test
  void afterCloseReturnsNoHandlerOfTheRestOfTheBatchStarts() throws Exception {
    IdempotencyStore s = store(dir, "i1", b -> {});
    OnceProcessor p = processor(s, b -> b.closeTimeout(Duration.ofMillis(100)));
    String a = TandemIds.newId();
    String b2 = TandemIds.newId();
    String c = TandemIds.newId();
    long now = System.currentTimeMillis();
    List<IncomingMessage> batch =
        List.of(message(a, "a", now), message(b2, "b", now), message(c, "c", now));
    List<String> started = new CopyOnWriteArrayList<>();
    CountDownLatch running = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CompletableFuture<List<Outcome>> out = CompletableFuture.supplyAsync(() -> p.processAll(batch,
        shard -> 0L, ctx -> {
          started.add(ctx.id());
          if (ctx.id().equals(a)) {
            running.countDown();
            assertTrue(release.await(60, TimeUnit.SECONDS));
          }
        }));
    try {
      assertTrue(running.await(30, TimeUnit.SECONDS));
      p.close(); // returns after 100 ms: handler a still runs
    } finally {
      release.countDown();
    }
    List<Outcome> outcomes = out.get(30, TimeUnit.SECONDS);
    assertEquals(List.of(a), started, "handlers started after close() returned; outcomes " + outcomes);
    assertInstanceOf(Outcome.Processed.class, outcomes.get(0));
    for (int i = 1; i < 3; i++) {
      assertEquals(Outcome.RetryReason.CLOSED,
          assertInstanceOf(Outcome.RetryLater.class, outcomes.get(i)).reason());
    }
    assertEquals(Phase.RELEASED, s.get(b2, 0).orElseThrow().phase(), "the claim is released");
    assertEquals(Phase.RELEASED, s.get(c, 0).orElseThrow().phase(), "the claim is released");
  }

  /**
   * Finding 3: a changelog that acknowledges every write, steadily, twice the durable-claims timeout
   * late. Each redelivery must not wait for a barrier of its own resume (a renewal written just now):
   * it waits for the claim's original write, so the handlers run — and still only after their claim
   * is acknowledged.
   */
  @Test
  void aChangelogSteadilyTwiceTooSlowStillLetsHandlersRun() {
    IdempotencyStore s = store(dir, "i1", b -> {});
    Duration timeout = Duration.ofMillis(150);
    java.util.concurrent.ScheduledExecutorService acks =
        java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
    toClose.add(acks::shutdownNow);
    record Barrier(long createdNanos, CompletableFuture<Void> acked) {}
    List<Barrier> barriers = new CopyOnWriteArrayList<>();
    Map<String, Long> firstClaimNanos = new ConcurrentHashMap<>();
    s.addListener(new StoreListener() {
      @Override
      public void onRecord(IdRecord record, WriteOrigin origin) {
        if (record.phase() == Phase.CLAIMED) {
          firstClaimNanos.putIfAbsent(record.id(), System.nanoTime());
        }
      }
    });
    OnceProcessor p = processor(s, b -> b.claimsDurable(shard -> {
      CompletableFuture<Void> f = new CompletableFuture<>();
      barriers.add(new Barrier(System.nanoTime(), f));
      acks.schedule(() -> f.complete(null), timeout.toMillis() * 2, TimeUnit.MILLISECONDS);
      return f;
    }, timeout));
    long now = System.currentTimeMillis();
    List<IncomingMessage> batch = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      batch.add(message(TandemIds.newId(), "m" + i, now));
    }
    AtomicInteger ranNotDurable = new AtomicInteger();
    Set<String> processed = ConcurrentHashMap.newKeySet();
    MessageHandler handler = ctx -> {
      long claimed = firstClaimNanos.get(ctx.id());
      boolean durable = barriers.stream()
          .anyMatch(x -> x.createdNanos() >= claimed && x.acked().isDone());
      if (!durable) {
        ranNotDurable.incrementAndGet();
      }
      processed.add(ctx.id());
    };
    // the transport redelivers the batch (from its first unsettled copy) until all are processed
    await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(50))
        .until(() -> {
          p.processAll(batch, shard -> 0L, handler);
          return processed.size() == batch.size();
        });
    assertEquals(0, ranNotDurable.get(), "a handler ran before its claim was acknowledged");
    assertEquals(0.0, count("tandem.consumer.reclaimed.expired"));
  }

  /**
   * Finding 5: a redelivery under another epoch than the parked claim's does not resume it, and does
   * not drop it either: the redelivery under the claim's epoch still resumes it as the same attempt.
   */
  @Test
  void aRedeliveryUnderAnotherEpochKeepsTheParkedClaim() {
    IdempotencyStore s = store(dir, "i1", b -> {});
    CompletableFuture<Void> barrier = new CompletableFuture<>();
    OnceProcessor p = processor(s, b -> b.claimsDurable(shard -> barrier, Duration.ofMillis(50)));
    String id = TandemIds.newId();
    List<IncomingMessage> m = List.of(message(id, "x", System.currentTimeMillis()));
    AtomicReference<ProcessingContext> seen = new AtomicReference<>();
    assertEquals(Outcome.RetryReason.CLAIMS_NOT_DURABLE, assertInstanceOf(Outcome.RetryLater.class,
        p.processAll(m, shard -> 5L, seen::set).get(0)).reason());
    assertInstanceOf(Outcome.RetryLater.class, p.processAll(m, shard -> 3L, seen::set).get(0));
    assertEquals(Set.of(key(id)), p.parkedKeysForTest(), "the parked claim is kept");
    barrier.complete(null);
    Outcome o = p.processAll(m, shard -> 5L, seen::set).get(0);
    assertEquals(1, assertInstanceOf(Outcome.Processed.class, o,
        "the parked claim resumes under its epoch: " + o).attempt());
  }

  // ------------------------------------------------------------------ helpers

  interface Body {
    void run() throws Exception;
  }

  /** Runs {@code body} with System.err captured (slf4j-simple writes there); returns what it wrote. */
  static synchronized String captureStderr(Body body) throws Exception {
    PrintStream old = System.err;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
    try {
      body.run();
    } finally {
      System.setErr(old);
    }
    String out = buf.toString(StandardCharsets.UTF_8);
    old.print(out);
    return out;
  }
}
