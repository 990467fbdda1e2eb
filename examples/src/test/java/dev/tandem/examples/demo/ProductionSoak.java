package dev.tandem.examples.demo;

import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.store.IdRecord;
import dev.tandem.store.ShardLease;
import dev.tandem.testkit.History;
import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TwoRegions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * The production-shaped soak (chaos suite, issue 14): two regions (real KRaft clusters), two Tandem
 * consumer instances per region in one consumer group each (real rebalances; each instance its own
 * RocksDB store holding the shards Kafka assigns it: restore on assign, flush on revoke), handlers
 * that work a random 20–50 ms in region A and 5–15 ms in region B (a busy owner beside an idle
 * follower), {@code max.poll.records} 500 and the library's default window W (1000), automatic
 * takeover (the library's defaults, L 6 s + margin 3 s) and automatic failback, and a publisher at a steady rate
 * for the whole run. A schedule of events, one set per round:
 *
 * <ul>
 *   <li>an instance removed (clean close: its shards are revoked and rebalanced) or added (a new
 *       instance with a new name and an empty store) every round;
 *   <li>once, region A's OWN changelog lane stalled (every region-A instance's changelog copies to
 *       region A's broker held by a {@link LaneStall} valve on the replication log's publisher sink)
 *       for longer than the publisher's {@code publishTimeout} (3 s), with a region-A instance removed
 *       while it is stalled (its revoke must flush through the stalled lane);
 *   <li>once, region A's broker stopped and restarted (region B takes its shards over, then fails
 *       them back).
 * </ul>
 *
 * <p>After each round the history is checked: nothing published before the round's end is lost; the
 * duplicate handler runs that happened during the round are 0 in a round without a region fault (a
 * rebalance, a stall, an added instance are not region faults) and within the bounds the round's
 * takeovers reported in the round with the broker restart; no takeover in a round without a region
 * fault (every region was alive: a takeover there took a shard from a live owner, a false takeover);
 * and each region's detected duplicates (the stores' {@code detectedDuplicates()}, summed over the
 * region's live instances, each holding its assigned shards) grew in the round by as many as the ids
 * that newly ran in both regions (so the totals stay equal).
 * One line per round: {@code ROUND n events=... RESULT published=... takeover_ms=... cross=...
 * same_region=... takeovers=... took_ms=... verdict=ok|BROKEN: ...}. Duplicates are attributed to the
 * round in which the duplicate run happened (the id's first run may lie in an earlier round).
 */
final class ProductionSoak {

  static final RegionId A = TwoRegionDemo.A;
  static final RegionId B = TwoRegionDemo.B;
  static final String TOPIC = "prod-orders";
  static final int SHARDS = TwoRegionDemo.SHARDS;
  /** Automatic failback once the home region has been healthy this long. */
  static final Duration FAILBACK_AFTER = Duration.ofSeconds(8);

  /** The knobs of a run: the CI form ({@link #ci}) or the soak profile's ({@link #soak}). */
  record Options(
      Duration minimum, int maxRounds, Duration roundLength, Duration stall, Duration brokerDown,
      int rate, int slowMinMs, int slowMaxMs, int fastMinMs, int fastMaxMs, Duration processWait,
      long seed) {

    /**
     * The CI form: the five rounds that carry every event once (remove, add, stall + remove, add,
     * broker restart) at 8 s a round, then the drain.
     */
    static Options ci(long seed) {
      return new Options(Duration.ZERO, 5, Duration.ofSeconds(8), Duration.ofSeconds(8),
          Duration.ofSeconds(10), 60, 20, 50, 5, 15, Duration.ofSeconds(60), seed);
    }

    /** The soak profile: rounds of 20 s until {@code minutes} have passed (at least the five). */
    static Options soak(double minutes, long seed) {
      return new Options(Duration.ofMillis((long) (minutes * 60_000)), Integer.MAX_VALUE,
          Duration.ofSeconds(20), Duration.ofSeconds(8), Duration.ofSeconds(10), 80, 20, 50, 5, 15,
          Duration.ofSeconds(120), seed);
    }
  }

  /** One scheduled event. */
  enum Kind { REMOVE, ADD, STALL_AND_REMOVE, BROKER_RESTART, DRAIN }

  record Event(Kind kind, RegionId region) {
    String label(Options o) {
      return switch (kind) {
        case REMOVE -> "remove(" + region.name() + ")";
        case ADD -> "add(" + region.name() + ")";
        case STALL_AND_REMOVE -> "stall(" + region.name() + " own changelog lane "
            + o.stall().toSeconds() + "s > publishTimeout " + DemoRegion.PUBLISH_TIMEOUT.toSeconds()
            + "s)+remove(" + region.name() + ")";
        case BROKER_RESTART -> "broker-restart(" + region.name() + " down "
            + o.brokerDown().toSeconds() + "s)";
        case DRAIN -> "drain(publisher stopped)";
      };
    }

    boolean regionFault() {
      return kind == Kind.BROKER_RESTART;
    }
  }

  /** What one round found, and its verdict. */
  record Round(int number, String events, boolean regionFault, DemoResult result, long cross,
      long sameRegionDuplicates, long crossRegionDuplicates, int takeovers, long detectedRecordsA,
      long detectedRecordsB, long tookMillis, List<String> violations, List<String> warnings) {

    boolean ok() {
      return violations.isEmpty();
    }

    /** This round with one more violation. */
    Round plus(String violation) {
      List<String> v = new ArrayList<>(violations);
      v.add(violation);
      return new Round(number, events, regionFault, result, cross, sameRegionDuplicates,
          crossRegionDuplicates, takeovers, detectedRecordsA, detectedRecordsB, tookMillis, v,
          warnings);
    }

    /** The demo's RESULT line, with the round, its events and its verdict around it. */
    String line() {
      return "ROUND " + number + " events=" + events + " " + result.resultLine()
          + " cross=" + cross + " same_region=" + sameRegionDuplicates + " takeovers=" + takeovers
          + " took_ms=" + tookMillis + " verdict=" + (ok() ? "ok" : "BROKEN: " + String.join("; ", violations))
          + (warnings.isEmpty() ? "" : " WARNING: " + String.join("; ", warnings));
    }
  }

  /** The fixed head of every schedule: each event once, region A the busy owner. */
  static List<Event> schedule(int rounds) {
    List<Event> head = List.of(
        new Event(Kind.REMOVE, A),
        new Event(Kind.ADD, A),
        new Event(Kind.STALL_AND_REMOVE, A),
        new Event(Kind.ADD, A),
        new Event(Kind.BROKER_RESTART, A));
    List<Event> cycle = List.of(
        new Event(Kind.REMOVE, B), new Event(Kind.ADD, B),
        new Event(Kind.REMOVE, A), new Event(Kind.ADD, A));
    List<Event> out = new ArrayList<>();
    for (int i = 0; i < rounds; i++) {
      out.add(i < head.size() ? head.get(i) : cycle.get((i - head.size()) % cycle.size()));
    }
    return out;
  }

  private final Options o;
  private final TwoRegions regions;
  private final Path dir;
  private final History history = new History();
  /**
   * The library's defaults (ShardOwnership.Builder): L 6 s + margin 3 s, revalidateAfter = L —
   * production-shaped, so the soak checks the defaults' claim of no false takeover.
   */
  static final Duration LEASE_TIMEOUT = Duration.ofSeconds(6);
  static final Duration MARGIN = Duration.ofSeconds(3);
  private final OwnershipPolicy policy = OwnershipPolicy.automatic(
      LEASE_TIMEOUT, MARGIN, Duration.ofSeconds(60));
  private final Map<RegionId, LaneStall> lanes = Map.of(A, new LaneStall(), B, new LaneStall());
  /** Every instance ever started (their takeover reports outlive them), and the live ones. */
  private final List<DemoRegion> all = new CopyOnWriteArrayList<>();
  private final List<DemoRegion> live = new CopyOnWriteArrayList<>();
  private final Map<RegionId, AtomicInteger> names = Map.of(A, new AtomicInteger(), B, new AtomicInteger());
  /** Takeover reports as the monitor saw them appear, with the time it saw them. */
  private final List<Seen> takeovers = new CopyOnWriteArrayList<>();
  private final Map<DemoRegion, Integer> reportsSeen = new ConcurrentHashMap<>();
  private final String prefix;
  private final long started = System.nanoTime();
  private volatile boolean monitoring = true;
  /**
   * The scheduled events' own threads: a removal blocks (its revoke may wait for a stalled lane) while
   * the stall's release must still run on time, so never a bounded pool such as the common one.
   */
  private final java.util.concurrent.ScheduledExecutorService eventThreads =
      java.util.concurrent.Executors.newScheduledThreadPool(4, r -> {
        Thread t = new Thread(r, "prod-soak-event");
        t.setDaemon(true);
        return t;
      });
  /** Detected counts and ids run in both regions when the last round was checked. */
  private final Map<RegionId, Long> lastDetected = new ConcurrentHashMap<>(Map.of(A, 0L, B, 0L));
  private long lastCross;

  private record Seen(long atNanos, String instance, TakeoverReport report) {}

  private ProductionSoak(Options o, TwoRegions regions, Path dir) {
    this.o = o;
    this.regions = regions;
    this.dir = dir;
    this.prefix = "prod-" + o.seed();
  }

  /** Runs the soak on {@code regions} (whose topic it creates) and returns every round's result. */
  static List<Round> run(Options o, TwoRegions regions, Path dir) throws Exception {
    return new ProductionSoak(o, regions, dir).run();
  }

  private List<Round> run() throws Exception {
    regions.createTopic(TOPIC, SHARDS);
    say("SOAK production-shaped: 2 instances per region, handlers A " + o.slowMinMs() + "-"
        + o.slowMaxMs() + " ms, B " + o.fastMinMs() + "-" + o.fastMaxMs()
        + " ms, max.poll.records 500, W default, L " + LEASE_TIMEOUT.toSeconds()
        + "s + margin " + MARGIN.toSeconds() + "s, failback after "
        + FAILBACK_AFTER.toSeconds() + "s, " + o.rate() + " msg/s, rounds of "
        + o.roundLength().toSeconds() + "s, seed " + o.seed());
    List<Round> rounds = new ArrayList<>();
    Thread monitor = new Thread(this::monitor, "prod-soak-monitor");
    monitor.setDaemon(true);
    monitor.start();
    try (TandemKafkaProducer<String, byte[]> producer =
        PacedPublisher.producer(regions, dir.resolve("publisher-spool"))) {
      // four instances at once (each opens a store and its log): they join their groups together
      List<CompletableFuture<DemoRegion>> starting = new ArrayList<>();
      for (RegionId r : List.of(A, A, B, B)) {
        starting.add(CompletableFuture.supplyAsync(() -> add(r), eventThreads));
      }
      for (CompletableFuture<DemoRegion> f : starting) {
        f.get(90, TimeUnit.SECONDS);
      }
      PacedPublisher publishing = PacedPublisher.start(producer, TOPIC, prefix, 0, Integer.MAX_VALUE,
          o.rate(), o.seed(), history);
      // warm-up: every instance has joined and both regions process (not a round: nothing injected)
      boolean warm = awaitUntil(Duration.ofSeconds(90), () -> history.distinctHandled() >= o.rate());
      say((warm ? "warm: " : "NOT warm after 90 s, going on: ") + status());
      long deadline = System.nanoTime() + o.minimum().toNanos();
      List<Event> plan = schedule(Math.min(o.maxRounds(), 10_000));
      long roundStart = System.nanoTime();
      for (int i = 0; i < plan.size(); i++) {
        if (i >= 5 && System.nanoTime() >= deadline) {
          break;
        }
        Round r = round(i + 1, plan.get(i), roundStart, publishing);
        rounds.add(r);
        say(r.line());
        roundStart = System.nanoTime();
      }
      publishing.stop();
      publishing.await(Duration.ofSeconds(60));
      if (!publishing.failures().isEmpty()) {
        say("publish failures: " + publishing.failures().size() + " e.g. " + publishing.failures().peek());
      }
      Round drain = round(rounds.size() + 1, new Event(Kind.DRAIN, null), roundStart, publishing);
      if (!publishing.failures().isEmpty()) {
        // an id the publisher could not get acknowledged is in no history: the run must say so
        drain = drain.plus(publishing.failures().size() + " send(s) never acknowledged, e.g. "
            + publishing.failures().peek());
      }
      rounds.add(drain);
      say(drain.line());
      History.Report total = check(0);
      long broken = rounds.stream().filter(r -> !r.ok()).count();
      say("SOAK-RESULT rounds=" + rounds.size() + " broken=" + broken + " published=" + total.published()
          + " processed=" + total.processed() + " lost=" + total.lost().size() + " duplicates="
          + total.duplicates() + " cross=" + history.crossRegionIds().size() + " detected_a="
          + detected(A) + " detected_b=" + detected(B) + " takeovers=" + takeovers.size()
          + " takeovers_without_region_fault="
          + rounds.stream().filter(r -> !r.regionFault()).mapToInt(Round::takeovers).sum()
          + " runs=" + total.runsByRegion() + " took_s=" + (System.nanoTime() - started) / 1_000_000_000L);
      return rounds;
    } finally {
      monitoring = false;
      eventThreads.shutdown();
      for (LaneStall l : lanes.values()) {
        l.release(); // an instance closing behind a stalled lane would wait for it
      }
      for (DemoRegion n : live) {
        try {
          n.close();
        } catch (RuntimeException e) {
          say("(closing " + n.instance + ": " + e + ")");
        }
      }
    }
  }

  private Round round(int number, Event event, long t0, PacedPublisher publishing) throws Exception {
    int takeoversBefore = takeovers.size();
    // the detected counts and the ids run in both regions at the end of the previous round
    Map<RegionId, Long> detectedBefore = Map.copyOf(lastDetected);
    long crossBefore = lastCross;
    String events = event.label(o);
    int window = event.regionFault() ? history.beginFault("round " + number + " " + events) : -1;
    long faultAt = System.nanoTime();
    say("ROUND " + number + " begins: " + events + " | " + status());
    List<CompletableFuture<Void>> pending = new ArrayList<>();
    switch (event.kind()) {
      case REMOVE -> pending.add(CompletableFuture.runAsync(() -> remove(event.region()), eventThreads));
      case ADD -> add(event.region());
      case STALL_AND_REMOVE -> {
        LaneStall lane = lanes.get(event.region());
        lane.stall();
        say("STALL: " + event.region().name() + "'s own changelog lane held for " + o.stall().toSeconds() + " s");
        pending.add(later(o.stall(), () -> {
          say("STALL over: releasing " + lane.held() + " held copies");
          lane.release();
        }));
        // a rebalance while the lane is stalled: the leaving instance must flush its shards through it
        pending.add(later(Duration.ofSeconds(1), () -> remove(event.region())));
      }
      case BROKER_RESTART -> {
        KafkaRegion broker = event.region().equals(A) ? regions.a() : regions.b();
        broker.stopBroker();
        say("BROKER: " + event.region().name() + "'s broker stopped");
        pending.add(later(o.brokerDown(), () -> {
          broker.startBroker();
          say("BROKER: " + event.region().name() + "'s broker is back");
        }));
      }
      case DRAIN -> { }
    }
    if (event.kind() != Kind.DRAIN) {
      // the round's length is the schedule's clock (events every roundLength), not a synchronisation
      long until = t0 + o.roundLength().toNanos();
      while (System.nanoTime() < until) {
        LockSupport.parkNanos(Math.min(until - System.nanoTime(), 1_000_000_000L));
      }
    }
    for (CompletableFuture<Void> f : pending) {
      f.get(120, TimeUnit.SECONDS);
    }
    // every id published before now must be processed (bounded wait; what is still missing is lost)
    long upTo = publishing.sent();
    boolean processed = awaitUntil(o.processWait(), () -> lostBefore(upTo).isEmpty());
    Set<String> lost = lostBefore(upTo);
    // the stores' detected counts follow the completions through the changelogs: give them a moment
    awaitUntil(Duration.ofSeconds(6), () -> detected(A) - detectedBefore.get(A)
            == history.crossRegionIds().size() - crossBefore
        && detected(B) - detectedBefore.get(B) == history.crossRegionIds().size() - crossBefore);
    long crossNow = history.crossRegionIds().size();
    long end = System.nanoTime();
    if (window >= 0) {
      history.endFault(window);
    }

    List<History.Run> dups = new ArrayList<>();
    for (History.Run r : history.duplicateRuns()) {
      if (r.atNanos() - t0 >= 0 && r.atNanos() - end < 0) {
        dups.add(r);
      }
    }
    long cross = 0;
    for (History.Run d : dups) {
      boolean otherRegionBefore = history.runsOf(d.id()).stream()
          .anyMatch(x -> x.atNanos() < d.atNanos() && !x.region().equals(d.region()));
      if (otherRegionBefore) {
        cross++;
      }
    }
    long same = dups.size() - cross;
    List<Seen> mine = new ArrayList<>(takeovers.subList(takeoversBefore, takeovers.size()));
    long bound = 0;
    String unknown = null;
    for (Seen s : mine) {
      if (s.report().bound().isPresent()) {
        bound += s.report().bound().getAsLong();
      } else {
        unknown = s.report().unknownReason();
      }
    }
    long takeoverMs = !event.regionFault() || mine.isEmpty() ? -1 : (mine.get(0).atNanos() - faultAt) / 1_000_000;
    long detA = detected(A);
    long detB = detected(B);
    long recA = detectedRecords(A);
    long recB = detectedRecords(B);
    History.Report report = check(0);

    List<String> v = new ArrayList<>();
    if (!lost.isEmpty()) {
      v.add(lost.size() + " id(s) published before the round's end not processed within "
          + o.processWait().toSeconds() + " s, e.g. " + lost.stream().limit(3).toList());
    }
    if (!event.regionFault() && !dups.isEmpty()) {
      v.add(dups.size() + " duplicate run(s) without a region fault (" + same + " inside one region, "
          + cross + " across regions) e.g. " + describe(dups.get(0)));
    }
    // a takeover in a round without a region fault took a shard from a live owner: reported, and
    // counted in SOAK-RESULT, but not a broken promise by itself (the promise is about what ran:
    // the duplicate check above fails the round if the takeover made one). Known case: an instance
    // leaves while the other instance of its region runs a long batch, so the leaver's shards stay
    // unassigned (and unrenewed) until that batch ends (consumer/README.md, "false takeover")
    List<String> w = new ArrayList<>();
    if (!event.regionFault() && !mine.isEmpty()) {
      TakeoverReport t = mine.get(0).report();
      w.add(mine.size() + " takeover(s) in a round without a region fault (a live owner taken over),"
          + " e.g. shard " + t.shard() + " " + t.from().name() + "->" + t.to().name() + " at epoch "
          + t.newEpoch() + " (" + t.reason() + ")");
    }
    if (event.regionFault()) {
      if (unknown == null && dups.size() > bound) {
        v.add(dups.size() + " duplicate run(s) exceed the bound " + bound + " reported at "
            + mine.size() + " takeover(s)");
      } else if (unknown != null && same > 0) {
        v.add(same + " duplicate run(s) inside one region, while the bound is unknown (" + unknown
            + ") and only cross-region duplicates are detected");
      }
    }
    long newCross = crossNow - crossBefore;
    long newA = detA - detectedBefore.get(A);
    long newB = detB - detectedBefore.get(B);
    if (newA != newCross || newB != newCross) {
      // per round: a miscount shows in the round where it happened, not in every later one
      v.add("detected this round a=+" + newA + " b=+" + newB + " but +" + newCross
          + " id(s) newly ran in both regions (cumulative: detected a=" + detA + " b=" + detB
          + ", records holding completers from both regions a=" + recA + " b=" + recB + ", ran in both "
          + crossNow + ")");
    }
    lastDetected.put(A, detA);
    lastDetected.put(B, detB);
    lastCross = crossNow;
    if (!processed && lost.isEmpty()) {
      v.add("processing wait ended without every id processed");
    }
    DemoResult result = new DemoResult(report.published(), report.processed(), lost.size(), dups.size(),
        unknown != null ? -1 : (mine.isEmpty() ? -1 : bound), detA, detB, takeoverMs,
        event.regionFault() ? DemoOptions.Fault.BROKER : DemoOptions.Fault.NONE,
        DemoOptions.Policy.AUTOMATIC);
    for (Seen s : mine) {
      TakeoverReport t = s.report();
      say("  takeover at +" + (s.atNanos() - t0) / 1_000_000 + " ms of the round by " + s.instance()
          + ": shard " + t.shard() + " " + t.from().name() + "->" + t.to().name() + " epoch "
          + t.newEpoch() + ", bound " + (t.bound().isPresent() ? t.bound().getAsLong() : "unknown"));
    }
    for (History.Run d : dups.stream().limit(5).toList()) {
      say("  duplicate: " + describe(d));
    }
    return new Round(number, events, event.regionFault(), result, crossNow, same, cross,
        mine.size(), recA, recB, (end - t0) / 1_000_000, v, w);
  }

  private String describe(History.Run d) {
    StringBuilder b = new StringBuilder(d.id()).append(" ran ");
    for (History.Run r : history.runsOf(d.id())) {
      b.append(r.instance()).append("@e").append(r.epoch()).append("+")
          .append((r.atNanos() - started) / 1_000_000).append("ms ");
    }
    return b.toString().trim();
  }

  // ---------------------------------------------------------------- instances

  private DemoRegion add(RegionId region) {
    String name = region.name() + "-" + names.get(region).incrementAndGet();
    boolean isA = region.equals(A);
    int lo = isA ? o.slowMinMs() : o.fastMinMs();
    int hi = isA ? o.slowMaxMs() : o.fastMaxMs();
    Random work = new Random(o.seed() * 31 + name.hashCode());
    DemoRegion n = new DemoRegion(region, isA ? regions.a().bootstrapServers() : regions.b().bootstrapServers(),
        isA ? regions.b().linkBootstrapServers() : regions.a().linkBootstrapServers(), isA ? B : A, dir,
        TOPIC, SHARDS, policy, (rec, ctx) -> {
          history.handled(ctx.id(), region.name(), name, ctx.epoch());
          int ms;
          synchronized (work) {
            ms = lo + work.nextInt(hi - lo + 1);
          }
          try {
            Thread.sleep(ms); // the handler's simulated work, not a synchronisation
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        },
        new DemoRegion.Instance(name, true, 0, FAILBACK_AFTER, lanes.get(region), LEASE_TIMEOUT));
    all.add(n);
    n.start();
    live.add(n);
    say("ADD: " + name + " started");
    return n;
  }

  /** Closes the region's oldest live instance (a clean scale-down: revoke, flush, leave the group). */
  private void remove(RegionId region) {
    DemoRegion victim = null;
    for (DemoRegion n : live) {
      if (n.region.equals(region)) {
        victim = n;
        break;
      }
    }
    long instances = live.stream().filter(n -> n.region.equals(region)).count();
    if (victim == null || instances < 2) {
      say("REMOVE: " + region.name() + " keeps its only instance");
      return;
    }
    say("REMOVE: closing " + victim.instance);
    long t = System.nanoTime();
    live.remove(victim);
    victim.close();
    say("REMOVE: " + victim.instance + " closed in " + (System.nanoTime() - t) / 1_000_000 + " ms");
  }

  /** Runs {@code r} on an event thread after {@code delay}. */
  private CompletableFuture<Void> later(Duration delay, Runnable r) {
    CompletableFuture<Void> f = new CompletableFuture<>();
    eventThreads.schedule(() -> {
      try {
        r.run();
        f.complete(null);
      } catch (RuntimeException | Error e) {
        f.completeExceptionally(e);
      }
    }, delay.toMillis(), TimeUnit.MILLISECONDS);
    return f;
  }

  // ---------------------------------------------------------------- figures

  /**
   * The region's detected duplicates as the library reports them: each live instance's store counts
   * the ids of the shards it holds, so the region's figure is their sum.
   */
  private long detected(RegionId region) {
    long d = 0;
    for (DemoRegion n : live) {
      if (n.region.equals(region)) {
        d += n.store.detectedDuplicates();
      }
    }
    return d;
  }

  /** The same, counted from the records themselves: distinct ids with completers from two regions. */
  private long detectedRecords(RegionId region) {
    Set<String> ids = new HashSet<>();
    for (DemoRegion n : live) {
      if (n.region.equals(region)) {
        try {
          n.store.forEach((IdRecord r) -> {
            if (r.isDetectedDuplicate()) {
              synchronized (ids) {
                ids.add(r.id());
              }
            }
          });
        } catch (RuntimeException e) {
          say("(scan of " + n.instance + " failed: " + e + ")");
        }
      }
    }
    return ids.size();
  }

  /** Acknowledged ids with an index below {@code upTo} that no handler ran. */
  private Set<String> lostBefore(long upTo) {
    Set<String> out = new java.util.TreeSet<>();
    for (String id : check(0).lost()) {
      long i = Long.parseLong(id.substring(id.lastIndexOf('-') + 1));
      if (i < upTo) {
        out.add(id);
      }
    }
    return out;
  }

  /** {@link History#check}, retried when it races a handler recording an id's first run. */
  private History.Report check(long grace) {
    for (int attempt = 1; ; attempt++) {
      try {
        return history.check(grace);
      } catch (IndexOutOfBoundsException raced) {
        if (attempt == 10) {
          throw raced;
        }
      }
    }
  }

  private String status() {
    History.Report r = check(0);
    Map<Integer, String> owners = new TreeMap<>();
    for (int s = 0; s < SHARDS; s++) {
      ShardLease best = null;
      for (DemoRegion n : live) {
        try {
          ShardLease l = n.ownership.lease(s);
          if (best == null || l.epoch() > best.epoch()) {
            best = l;
          }
        } catch (RuntimeException notHeld) {
          // a shard this instance does not hold
        }
      }
      owners.put(s, best == null ? "?" : best.owner().name().substring(7) + "@" + best.epoch());
    }
    List<String> names = live.stream().map(n -> n.instance).toList();
    return "published=" + r.published() + " processed=" + r.processed() + " runs=" + r.runsByRegion()
        + " instances=" + names + " owners=" + owners + " takeovers=" + takeovers.size();
  }

  private void monitor() {
    long nextStatus = System.nanoTime();
    while (monitoring) {
      for (DemoRegion n : all) {
        List<TakeoverReport> rs = n.takeovers();
        int seen = reportsSeen.getOrDefault(n, 0);
        for (int i = seen; i < rs.size(); i++) {
          takeovers.add(new Seen(System.nanoTime(), n.instance, rs.get(i)));
          say("TAKEOVER by " + n.instance + ": " + rs.get(i));
        }
        reportsSeen.put(n, rs.size());
      }
      if (System.nanoTime() >= nextStatus) {
        say("  " + status());
        nextStatus = System.nanoTime() + 5_000_000_000L;
      }
      LockSupport.parkNanos(200_000_000L); // the monitor's polling tick, not a synchronisation
    }
  }

  /** Waits (Awaitility) until {@code condition} holds, at most {@code max}; false if it never did. */
  private static boolean awaitUntil(Duration max, BooleanSupplier condition) {
    try {
      // a check can race a handler recording an id's first run (testkit History); the next poll sees it
      org.awaitility.Awaitility.await().atMost(max).pollInterval(Duration.ofMillis(250))
          .ignoreException(IndexOutOfBoundsException.class).until(condition::getAsBoolean);
      return true;
    } catch (org.awaitility.core.ConditionTimeoutException e) {
      return false;
    }
  }

  private void say(String s) {
    System.out.printf("==> [%6.1fs] %s%n", (System.nanoTime() - started) / 1e9, s);
  }
}
