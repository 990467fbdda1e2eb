package dev.tandem.examples.demo;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.ownership.HandoverReport;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TwoRegions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The soak: the demo's two regions (real KRaft clusters, RocksDB stores, the dual publisher, Tandem
 * consumers in both regions) under repeated random faults for {@code -Dtandem.soak.minutes} (default
 * 10), in rounds drawn from {@code -Dtandem.soak.seed}: a region's consumers stopped and started, a
 * region's broker stopped and started, a planned handover of some shards, or no fault. Each round
 * publishes a batch, injects its fault halfway, recovers, waits until every acknowledged id ran, and
 * checks the whole history: nothing lost; the round's duplicates within the bounds reported at its
 * takeovers, and none in a handover or fault-free round. One {@code ROUND ...} line per round.
 *
 * <p>Not a unit test: the default surefire includes do not match it; {@code mvn -B -pl examples -Psoak
 * verify} runs it (examples/README.md, "Soak").
 */
class DemoSoakIT {

  /** System property: how long to soak, in minutes (default 10). */
  static final String MINUTES_PROPERTY = "tandem.soak.minutes";
  /** System property: the seed of the fault sequence and the keys (default 42). */
  static final String SEED_PROPERTY = "tandem.soak.seed";

  static final String TOPIC = "soak-orders";
  static final int PER_ROUND = 300;
  static final int RATE = 150;
  /** A duplicate counts for a fault window when its runs fall in it or this long after it closed. */
  static final Duration GRACE = Duration.ofSeconds(30);

  enum Fault { NONE, CONSUMERS, BROKER, HANDOVER }

  private final Map<Fault, Integer> roundsByFault = new EnumMap<>(Fault.class);

  @Test
  void repeatedRandomFaultsKeepThePromise(@TempDir Path dir) throws Exception {
    double minutes = Double.parseDouble(System.getProperty(MINUTES_PROPERTY, "10"));
    long seed = Long.parseLong(System.getProperty(SEED_PROPERTY, "42"));
    Random random = new Random(seed);
    History history = new History();
    long deadline = System.nanoTime() + (long) (minutes * 60e9);
    System.out.printf("SOAK minutes=%s seed=%d per_round=%d rate=%d/s%n", minutes, seed, PER_ROUND, RATE);
    try (TwoRegions regions = TwoRegions.start();
        Nodes nodes = new Nodes(regions, dir, history);
        TandemKafkaProducer<String, byte[]> producer = PacedPublisher.producer(regions, dir.resolve("pub"))) {
      regions.createTopic(TOPIC, TwoRegionDemo.SHARDS);
      nodes.start(TwoRegionDemo.A);
      nodes.start(TwoRegionDemo.B);
      int round = 0;
      long totalDuplicates = 0;
      long totalBound = 0;
      while (System.nanoTime() < deadline) {
        round++;
        // a steady state first: both regions agree on every shard's lease (a recovered region has
        // read the takeovers it missed), so the next fault starts from one known owner per shard
        await().atMost(Duration.ofSeconds(120)).until(nodes::agree);
        Fault fault = Fault.values()[random.nextInt(Fault.values().length)];
        RegionId victim = random.nextBoolean() ? TwoRegionDemo.A : TwoRegionDemo.B;
        if (fault != Fault.NONE && nodes.owned(victim).isEmpty()) {
          victim = other(victim); // a region that owns nothing has nothing to take over or hand over
        }
        int duplicatesBefore = history.check(0).duplicates();
        List<TakeoverReport> takeoversBefore = nodes.takeovers();
        long detectedBefore = nodes.detected();
        long t0 = System.nanoTime();
        PacedPublisher publishing = PacedPublisher.start(producer, TOPIC, "soak-" + seed + "-r" + round,
            0, PER_ROUND, RATE, seed * 1_000 + round, history);
        await().atMost(Duration.ofSeconds(60)).until(() -> publishing.acknowledged() >= PER_ROUND / 2);

        String name = "round " + round + " " + fault.name().toLowerCase() + " " + victim.name();
        int window = fault == Fault.NONE ? -1 : history.beginFault(name);
        long takeoverMs = inject(fault, victim, regions, nodes, random);

        publishing.await(Duration.ofSeconds(120));
        assertEquals(List.of(), List.copyOf(publishing.failures()), name + ": every send acknowledged");
        // a check can race a handler recording an id's first run (testkit History); the next poll sees it
        await().atMost(Duration.ofSeconds(180)).ignoreException(IndexOutOfBoundsException.class)
          .until(() -> history.check(0).lost().isEmpty());
        if (window >= 0) {
          history.endFault(window);
        }

        History.Report report = history.check(GRACE.toNanos());
        int duplicates = report.duplicates() - duplicatesBefore;
        List<TakeoverReport> takeovers = new ArrayList<>(nodes.takeovers());
        takeovers.removeAll(takeoversBefore);
        long bound = 0;
        String unknown = null;
        for (TakeoverReport t : takeovers) {
          if (t.bound().isPresent()) {
            bound += t.bound().getAsLong();
          } else {
            unknown = t.unknownReason();
          }
        }
        totalDuplicates += duplicates;
        totalBound += bound;
        String violation = null;
        if (!report.lost().isEmpty()) {
          violation = report.lost().size() + " lost, e.g. " + report.lost().stream().limit(5).toList();
        } else if ((fault == Fault.NONE || fault == Fault.HANDOVER) && duplicates > 0) {
          violation = duplicates + " duplicate(s) in a " + fault.name().toLowerCase() + " round";
        } else if (duplicates > bound && unknown == null) {
          violation = duplicates + " duplicate(s) exceed the bound " + bound + " reported at takeover";
        } else if (report.duplicatesOutsideFaults() > 0) {
          violation = report.duplicatesOutsideFaults() + " duplicate(s) outside every fault window";
        }
        roundsByFault.merge(fault, 1, Integer::sum);
        System.out.printf("ROUND %d fault=%s victim=%s RESULT published=%d processed=%d lost=%d"
                + " duplicates=%d bound=%s detected=%d takeover_ms=%d takeovers=%d took_ms=%d verdict=%s%n",
            round, fault.name().toLowerCase(), fault == Fault.NONE ? "-" : victim.name(),
            report.published(), report.processed(), report.lost().size(), duplicates,
            unknown == null ? Long.toString(bound) : "unknown(" + unknown + ")",
            nodes.detected() - detectedBefore, takeoverMs, takeovers.size(),
            (System.nanoTime() - t0) / 1_000_000, violation == null ? "ok" : "BROKEN: " + violation);
        assertTrue(violation == null, name + ": " + violation);
      }
      History.Report all = history.check(GRACE.toNanos());
      System.out.printf("SOAK-RESULT rounds=%d byFault=%s published=%d processed=%d lost=%d duplicates=%d"
              + " bound=%d detected=%d byWindow=%s%n", round, roundsByFault, all.published(),
          all.processed(), all.lost().size(), totalDuplicates, totalBound, nodes.detected(),
          all.duplicatesByWindow());
      assertTrue(round > 0, "at least one round ran");
    }
  }

  /** Injects {@code fault} on {@code victim} and recovers; returns the takeover time, or -1. */
  private static long inject(Fault fault, RegionId victim, TwoRegions regions, Nodes nodes, Random random)
      throws Exception {
    long t0 = System.nanoTime();
    RegionId survivor = other(victim);
    List<Integer> victimShards = nodes.owned(victim);
    switch (fault) {
      case NONE -> {
        return -1;
      }
      case CONSUMERS -> {
        nodes.stop(victim); // the region's consumer application stops (clean close)
        long ms = awaitTakeover(nodes, survivor, victimShards, t0);
        nodes.start(victim); // and starts again: it restores, then follows until handed back
        return ms;
      }
      case BROKER -> {
        KafkaRegion broker = victim.equals(TwoRegionDemo.A) ? regions.a() : regions.b();
        broker.stopBroker();
        try {
          return awaitTakeover(nodes, survivor, victimShards, t0);
        } finally {
          broker.startBroker();
        }
      }
      case HANDOVER -> {
        // hand over a random non-empty subset of the victim's shards
        List<Integer> shards = new ArrayList<>(victimShards);
        java.util.Collections.shuffle(shards, random);
        List<Integer> moved = List.copyOf(shards.subList(0, 1 + random.nextInt(shards.size())));
        for (int s : moved) {
          HandoverReport r = nodes.get(victim).ownership.handOver(s, survivor, Duration.ofSeconds(30));
          assertTrue(r.moved(), "planned handover of shard " + s + ": " + r.detail());
        }
        await().atMost(Duration.ofSeconds(60)).until(() -> nodes.owned(survivor).containsAll(moved));
        return (System.nanoTime() - t0) / 1_000_000;
      }
      default -> throw new IllegalStateException("unknown fault " + fault);
    }
  }

  private static long awaitTakeover(Nodes nodes, RegionId survivor, List<Integer> shards, long t0) {
    await().atMost(Duration.ofSeconds(90)).until(() -> nodes.owned(survivor).containsAll(shards));
    return (System.nanoTime() - t0) / 1_000_000;
  }

  private static RegionId other(RegionId r) {
    return r.equals(TwoRegionDemo.A) ? TwoRegionDemo.B : TwoRegionDemo.A;
  }

  /**
   * The two regions' consumer sides, restartable: a stopped region's takeover reports are kept, so
   * the bounds of every takeover so far can be summed.
   */
  static final class Nodes implements AutoCloseable {
    private final TwoRegions regions;
    private final Path dir;
    private final History history;
    private final OwnershipPolicy policy = OwnershipPolicy.automatic(
        TwoRegionDemo.LEASE_TIMEOUT, TwoRegionDemo.MARGIN, Duration.ofSeconds(60));
    private final Map<RegionId, DemoRegion> running = new java.util.concurrent.ConcurrentHashMap<>();
    private final List<TakeoverReport> stoppedTakeovers = new ArrayList<>();
    private long stoppedDetected;

    Nodes(TwoRegions regions, Path dir, History history) {
      this.regions = regions;
      this.dir = dir;
      this.history = history;
    }

    void start(RegionId id) {
      boolean isA = id.equals(TwoRegionDemo.A);
      DemoRegion n = new DemoRegion(id, isA ? regions.a() : regions.b(), isA ? regions.b() : regions.a(),
          other(id), dir, TOPIC, TwoRegionDemo.SHARDS, policy,
          (rec, ctx) -> history.handled(ctx.id(), id.name(), id.name() + "-1", ctx.epoch()));
      n.start();
      running.put(id, n);
    }

    void stop(RegionId id) {
      DemoRegion n = running.remove(id);
      synchronized (stoppedTakeovers) {
        stoppedTakeovers.addAll(n.takeovers());
        stoppedDetected = Math.max(stoppedDetected, n.store.detectedDuplicates());
      }
      n.close();
    }

    DemoRegion get(RegionId id) {
      return running.get(id);
    }

    /** The shards {@code id} owns by its own view (none while it is stopped). */
    List<Integer> owned(RegionId id) {
      DemoRegion n = running.get(id);
      List<Integer> owned = new ArrayList<>();
      for (int s = 0; n != null && s < TwoRegionDemo.SHARDS; s++) {
        if (n.ownership.owns(s)) {
          owned.add(s);
        }
      }
      return owned;
    }

    /** Whether both regions run and hold the same lease (epoch, owner) for every shard. */
    boolean agree() {
      DemoRegion a = running.get(TwoRegionDemo.A);
      DemoRegion b = running.get(TwoRegionDemo.B);
      if (a == null || b == null) {
        return false;
      }
      for (int s = 0; s < TwoRegionDemo.SHARDS; s++) {
        var la = a.ownership.lease(s);
        var lb = b.ownership.lease(s);
        if (la.epoch() != lb.epoch() || !la.owner().equals(lb.owner())) {
          return false;
        }
      }
      return true;
    }

    /** Every takeover report so far, stopped instances' first, in order. */
    List<TakeoverReport> takeovers() {
      List<TakeoverReport> all;
      synchronized (stoppedTakeovers) {
        all = new ArrayList<>(stoppedTakeovers);
      }
      for (RegionId id : List.of(TwoRegionDemo.A, TwoRegionDemo.B)) {
        DemoRegion n = running.get(id);
        if (n != null) {
          all.addAll(n.takeovers());
        }
      }
      return all;
    }

    /** Cross-region duplicates the stores detected (the replicated count: the same in each). */
    long detected() {
      long d = stoppedDetected;
      for (DemoRegion n : running.values()) {
        d = Math.max(d, n.store.detectedDuplicates());
      }
      return d;
    }

    @Override
    public void close() {
      for (DemoRegion n : running.values()) {
        n.close();
      }
      running.clear();
    }
  }
}
