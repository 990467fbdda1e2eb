package dev.tandem.examples.demo;

import dev.tandem.consumer.ownership.HandoverReport;
import dev.tandem.consumer.ownership.MoveReport;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.consumer.ownership.WitnessPolicy;
import dev.tandem.consumer.witness.KafkaTopicWitness;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.store.ShardLease;
import dev.tandem.testkit.History;
import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TwoRegions;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The two-region demo: two in-JVM single-node KRaft Kafka clusters (region-a, region-b), RocksDB
 * stores in a temp directory, a {@link TandemKafkaProducer} publishing at a steady rate, Tandem
 * consumers in both regions, and halfway through a failure of region A with region B taking over.
 * Ends with one machine-readable {@code RESULT ...} line; exits non-zero when the promise broke.
 * (Just over 500 lines on purpose: the README sends newcomers here to read one run top to bottom —
 * set-up, stream, fault, verdict — so it stays one file.)
 */
public final class TwoRegionDemo {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");
  static final String TOPIC = "orders";
  static final int SHARDS = 4;
  /** A takeover decision after this much silence (plus the margin): short, for a demo. */
  static final Duration LEASE_TIMEOUT = Duration.ofSeconds(4);
  static final Duration MARGIN = Duration.ofSeconds(2);
  /**
   * How long {@code --fail partition} keeps the link cut: the takeover time (L + margin), the
   * takeover's catch-up of the unreachable peer's changelog (5 s), and a few seconds of both sides
   * acting on what they decided.
   */
  static final Duration PARTITION = LEASE_TIMEOUT.plus(MARGIN).plus(Duration.ofSeconds(9));
  /** The witness lease of {@code --policy witness}: a holder that stops renewing loses it after this plus the margin. */
  static final Duration WITNESS_LEASE = Duration.ofSeconds(4);
  static final Duration WITNESS_MARGIN = Duration.ofSeconds(1);
  static final String WITNESS_TOPIC = "tandem-witness";

  private TwoRegionDemo() {}

  public static void main(String[] args) throws Exception {
    DemoOptions o;
    try {
      o = DemoOptions.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      System.exit(2);
      return;
    }
    if (o.help()) {
      System.out.println(DemoOptions.USAGE);
      return;
    }
    DemoResult r = run(o);
    System.out.println(r.resultLine());
    System.exit(r.exitCode());
  }

  /** Runs the demo and returns its result (the report is printed at the end, once). */
  static DemoResult run(DemoOptions o) throws Exception {
    return run(o, null);
  }

  /**
   * As {@link #run(DemoOptions)}; every meter of both regions and of the publisher also goes to
   * {@code observe} when it is not null (the dashboard test scrapes a Prometheus registry).
   */
  static DemoResult run(DemoOptions o, MeterRegistry observe) throws Exception {
    return run(o, observe, () -> {});
  }

  /** As above; {@code beforeClose} runs once everything is checked, before anything is closed. */
  static DemoResult run(DemoOptions o, MeterRegistry observe, Runnable beforeClose) throws Exception {
    Path dir = Files.createTempDirectory("tandem-demo");
    long t0 = System.nanoTime();
    step("starting two Kafka regions in this JVM (region-a, region-b; single-node KRaft each)");
    History history = new History();
    KafkaRegion witness = null;
    List<String> reportLines = new ArrayList<>();
    DemoResult outcome;
    try (TwoRegions regions = TwoRegions.start()) {
      regions.createTopic(TOPIC, SHARDS);
      step("regions up in " + ms(t0) + " ms: region-a " + regions.a().bootstrapServers()
          + ", region-b " + regions.b().bootstrapServers() + " (each reaches the other through a"
          + " link the demo can cut)");
      if (o.policy() == DemoOptions.Policy.WITNESS) {
        long w0 = System.nanoTime();
        step("starting the takeover witness: a third Kafka cluster in this JVM, outside both regions"
            + " (a one-partition topic '" + WITNESS_TOPIC + "'; lease " + WITNESS_LEASE.toSeconds()
            + " s, margin " + WITNESS_MARGIN.toSeconds() + " s)");
        witness = KafkaRegion.start("witness");
        witness.createTopic(WITNESS_TOPIC, 1);
        step("witness up in " + ms(w0) + " ms at " + witness.bootstrapServers()
            + "; a region processes a shard only while the witness grants it the shard");
      }
      List<MoveReport> moves = new java.util.concurrent.CopyOnWriteArrayList<>();
      AtomicLong firstRunAfterFault = new AtomicLong();
      AtomicLong faultAt = new AtomicLong();
      List<DemoRegion> nodes = new ArrayList<>();
      for (RegionId id : List.of(A, B)) {
        nodes.add(new DemoRegion(id, (id.equals(A) ? regions.a() : regions.b()).bootstrapServers(),
            (id.equals(A) ? regions.b() : regions.a()).linkBootstrapServers(), id.equals(A) ? B : A,
            dir, TOPIC, SHARDS, policy(o.policy(), witness),
            (rec, ctx) -> {
              history.handled(ctx.id(), id.name(), id.name() + "-1", ctx.epoch());
              if (faultAt.get() != 0 && id.equals(B) && ctx.epoch() > 0) {
                firstRunAfterFault.compareAndSet(0, System.nanoTime());
              }
            }, DemoRegion.Instance.demo(id), observe));
      }
      DemoRegion a = nodes.get(0);
      DemoRegion b = nodes.get(1);
      step("stores open in " + dir + "; consumers starting (each restores its shards first)");
      a.start();
      b.start();

      TandemKafkaProducer<String, byte[]> producer =
          TandemKafkaProducer.builder(new StringSerializer(), new ByteArraySerializer())
              .region(A, quick(regions.a().producerProperties()))
              .region(B, quick(regions.b().producerProperties()))
              .publisher(p -> {
                p.spoolDirectory(dir.resolve("publisher-spool"));
                if (observe != null) {
                  p.meterRegistry(observe);
                }
              })
              .build();
      step("publishing " + o.messages() + " messages at " + o.rate() + "/s to both regions;"
          + " fault '" + o.fail().name().toLowerCase() + "' at the halfway mark");
      Random random = new Random(o.seed());
      ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
      AtomicLong acked = new AtomicLong();
      long start = System.nanoTime();
      long nanosPerMessage = 1_000_000_000L / o.rate();
      long nextProgress = System.nanoTime();
      int faultIndex = -1;
      CompletableFuture<Void> healed = CompletableFuture.completedFuture(null);
      for (int i = 0; i < o.messages(); i++) {
        if (i == o.messages() / 2 && o.fail() != DemoOptions.Fault.NONE) {
          faultAt.set(System.nanoTime());
          faultIndex = inject(o.fail(), regions, a, b, history);
          if (o.fail() == DemoOptions.Fault.PARTITION) {
            healed = healLater(regions);
          }
          if (o.policy() == DemoOptions.Policy.MANUAL && o.fail() != DemoOptions.Fault.HANDOVER) {
            operator(a, b, moves, o.fail());
          }
        }
        String id = "order-" + o.seed() + "-" + i;
        ProducerRecord<String, byte[]> rec = new ProducerRecord<>(TOPIC, "customer-" + random.nextInt(1000),
            ("{\"order\":" + i + "}").getBytes(StandardCharsets.UTF_8));
        rec.headers().add(TandemHeaders.ID, id.getBytes(StandardCharsets.UTF_8));
        producer.send(rec, (md, e) -> {
          if (e == null) {
            history.published(id);
            acked.incrementAndGet();
          } else {
            failures.add(id + ": " + e);
          }
        });
        long due = start + (i + 1) * nanosPerMessage;
        while (System.nanoTime() < due) {
          Thread.onSpinWait();
          if (due - System.nanoTime() > 2_000_000) {
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000); // pacing the publisher, not synchronising
          }
        }
        if (System.nanoTime() >= nextProgress) {
          progress(acked.get(), history, a, b);
          nextProgress = System.nanoTime() + 1_000_000_000L;
        }
      }
      producer.flush();
      if (!healed.isDone()) {
        step("published; the link stays cut until " + PARTITION.toSeconds() + " s after the fault");
        while (!healed.isDone()) {
          progress(acked.get(), history, a, b);
          try {
            healed.get(1, TimeUnit.SECONDS);
          } catch (java.util.concurrent.TimeoutException tick) {
            // still cut: another progress line
          }
        }
      }
      healed.join();
      step("published; waiting for every published id to be processed (up to 90 s)");
      long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
      while (System.nanoTime() < deadline && check(history, 0).lost().size() > 0) {
        progress(acked.get(), history, a, b);
        java.util.concurrent.locks.LockSupport.parkNanos(1_000_000_000L); // a progress tick, not a sync
      }
      if (o.fail() == DemoOptions.Fault.BROKER) {
        step("region-a's broker comes back; its spooled copies drain, and it rejoins as follower");
        regions.a().startBroker();
        if (check(history, 0).lost().size() > 0) {
          // nothing took region-a's shards over: they waited for its broker; a message is lost
          // only if it is not processed even now
          step("some ids were not processed while region-a's broker was down (no takeover of its"
              + " shards); waiting for them now that it is back (up to 60 s)");
          long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
          while (System.nanoTime() < until && check(history, 0).lost().size() > 0) {
            progress(acked.get(), history, a, b);
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000_000L); // a progress tick, not a sync
          }
        }
      }
      if (o.fail() == DemoOptions.Fault.PARTITION) {
        settle(acked.get(), history, a, b);
      }
      if (faultIndex >= 0) {
        history.endFault(faultIndex);
      }
      progress(acked.get(), history, a, b);
      History.Report report = check(history, Duration.ofSeconds(30).toNanos());
      List<TakeoverReport> takeovers = new ArrayList<>(b.takeovers());
      takeovers.addAll(a.takeovers());
      long bound = -1;
      boolean unknown = false;
      for (TakeoverReport t : takeovers) {
        if (t.bound().isPresent()) {
          bound = Math.max(bound, 0) + t.bound().getAsLong();
        } else {
          unknown = true;
        }
      }
      for (MoveReport m : moves) {
        if (m.bound().isEmpty()) {
          unknown = true;
        }
      }
      long detectedA = a.store.detectedDuplicates();
      long detectedB = b.store.detectedDuplicates();
      long takeoverMs = firstRunAfterFault.get() == 0 || faultAt.get() == 0 ? -1
          : (firstRunAfterFault.get() - faultAt.get()) / 1_000_000;
      // the report is printed once, whole, after everything is closed: nothing the closing logs
      // lands between its lines or after its verdict
      List<String> lines = new ArrayList<>();
      lines.add("  published (acknowledged)  " + report.published()
          + (failures.isEmpty() ? "" : "   publish failures: " + failures.size() + " e.g. " + failures.peek()));
      lines.add("  processed (distinct ids)  " + report.processed() + "   handler runs by region: "
          + report.runsByRegion());
      lines.add("  lost                      " + report.lost().size()
          + (report.lost().isEmpty() ? "" : "   e.g. " + report.lost().stream().limit(5).toList()));
      lines.add("  duplicates                " + report.duplicates() + "   by fault window: "
          + report.duplicatesByWindow() + ", outside any fault: " + report.duplicatesOutsideFaults());
      lines.add("  takeovers                 " + takeovers.size()
          + (takeovers.isEmpty() && (o.fail() == DemoOptions.Fault.CONSUMERS || o.fail() == DemoOptions.Fault.BROKER)
              ? "   (none: region-a's shards waited for region-a to come back)" : ""));
      for (TakeoverReport t : takeovers) {
        lines.add("    " + t);
      }
      lines.add("  duplicate bound reported  " + (unknown ? "unknown (see above)" : bound < 0 ? "none (no takeover)" : bound));
      if (o.fail() == DemoOptions.Fault.PARTITION && o.policy() == DemoOptions.Policy.AUTOMATIC) {
        lines.add("    (AUTOMATIC is availability first: behind a partition the old owner goes on"
            + " processing, so the bound covers a crash, not a partition; every duplicate must be detected)");
      }
      lines.add("  detected by the store     " + (detectedA == detectedB ? detectedA + " (the same in both regions)"
          : "region-a " + detectedA + ", region-b " + detectedB + " (they disagree)"));
      beforeClose.run();
      step("closing");
      List<String> closeErrors = new ArrayList<>();
      producer.close(Duration.ofSeconds(5));
      for (DemoRegion n : nodes) {
        try {
          n.close();
        } catch (RuntimeException e) {
          closeErrors.add("  (closing " + n.region + ": " + e + ")");
        }
      }
      DemoResult result = new DemoResult(report.published(), report.processed(), report.lost().size(),
          report.duplicates(), unknown ? -1 : bound, detectedA, detectedB, takeoverMs, o.fail(),
          o.policy());
      reportLines.addAll(lines);
      reportLines.addAll(closeErrors);
      outcome = result;
    } finally {
      if (witness != null) {
        witness.close();
      }
      deleteQuietly(dir);
    }
    // the clusters are closed too: the report is the last thing printed (then main's RESULT line)
    String violation = outcome.violation();
    System.out.println();
    System.out.println("Report");
    reportLines.forEach(System.out::println);
    System.out.println("  verdict                   " + (violation == null ? "the promise held" : "BROKEN: " + violation));
    System.out.println("  took                      " + ms(t0) / 1000 + " s");
    return outcome;
  }

  /** One region's policy; under WITNESS each region has its own witness client and policy. */
  private static OwnershipPolicy policy(DemoOptions.Policy p, KafkaRegion witness) {
    return switch (p) {
      case AUTOMATIC -> OwnershipPolicy.automatic(LEASE_TIMEOUT, MARGIN, Duration.ofSeconds(60));
      case MANUAL -> OwnershipPolicy.manual();
      case WITNESS -> WitnessPolicy.builder(KafkaTopicWitness.builder()
              .bootstrapServers(witness.bootstrapServers()).topic(WITNESS_TOPIC)
              .lease(WITNESS_LEASE).margin(WITNESS_MARGIN).requestTimeout(Duration.ofSeconds(2))
              .build())
          .renewEvery(Duration.ofMillis(500)).build();
    };
  }

  /** Heals the link {@link #PARTITION} after now, on a timer: the publisher goes on meanwhile. */
  private static CompletableFuture<Void> healLater(TwoRegions regions) {
    return CompletableFuture.runAsync(() -> {
      regions.healLink();
      step("HEAL: the link between the regions is back; spooled changelog writes replay both ways");
    }, CompletableFuture.delayedExecutor(PARTITION.toMillis(), TimeUnit.MILLISECONDS));
  }

  /**
   * After a partition: waits (up to 90 s) until both replicas agree on every shard's lease, every
   * changelog write reached the peer, and both stores' detected-duplicate counts are equal and have
   * not moved for 3 s.
   */
  private static void settle(long published, History history, DemoRegion a, DemoRegion b) {
    step("waiting until both replicas agree on every lease and the detected duplicates settle (up to 90 s)");
    long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
    long stableSince = 0;
    long last = -1;
    long nextProgress = 0;
    while (System.nanoTime() < deadline) {
      long da = a.store.detectedDuplicates();
      long db = b.store.detectedDuplicates();
      boolean settled = da == db && da == last && leasesAgree(a, b) && drained(a) && drained(b);
      last = da == db ? da : -1;
      if (!settled) {
        stableSince = 0;
      } else if (stableSince == 0) {
        stableSince = System.nanoTime();
      } else if (System.nanoTime() - stableSince >= Duration.ofSeconds(3).toNanos()) {
        step("settled: leases agree, detected duplicates " + da + " in both regions");
        return;
      }
      if (System.nanoTime() >= nextProgress) {
        progress(published, history, a, b);
        System.out.println("           detected a=" + da + " b=" + db);
        nextProgress = System.nanoTime() + 1_000_000_000L;
      }
      java.util.concurrent.locks.LockSupport.parkNanos(250_000_000L); // a polling tick, not a sync
    }
    step("did not settle within 90 s (leases agree: " + leasesAgree(a, b) + ", detected a="
        + a.store.detectedDuplicates() + " b=" + b.store.detectedDuplicates() + ")");
  }

  private static boolean leasesAgree(DemoRegion a, DemoRegion b) {
    for (int s = 0; s < SHARDS; s++) {
      ShardLease la = a.ownership.lease(s);
      ShardLease lb = b.ownership.lease(s);
      if (la.epoch() != lb.epoch() || !la.owner().equals(lb.owner())) {
        return false;
      }
    }
    return true;
  }

  private static boolean drained(DemoRegion n) {
    for (int s = 0; s < SHARDS; s++) {
      if (n.log.unackedByPeers(s) > 0) {
        return false;
      }
    }
    return true;
  }

  /** Short client timeouts, so a dead region is noticed in seconds, not the defaults' minutes. */
  static java.util.Properties quick(java.util.Properties p) {
    p.put("max.block.ms", "3000");
    p.put("request.timeout.ms", "3000");
    p.put("delivery.timeout.ms", "6000");
    return p;
  }

  /**
   * Under MANUAL nothing moves by itself: the demo plays the operator, who sees region-a silent, waits
   * out the usual takeover time, and moves each of region-a's shards to region-b (fencing first).
   */
  private static void operator(DemoRegion a, DemoRegion b, List<MoveReport> moves,
      DemoOptions.Fault fault) {
    Thread t = new Thread(() -> {
      java.util.concurrent.locks.LockSupport.parkNanos(LEASE_TIMEOUT.plus(MARGIN).toNanos()); // the operator's deliberation, not a sync
      step("OPERATOR (the demo plays the operator): region-a "
          + (fault == DemoOptions.Fault.PARTITION ? "cannot be reached from region-b" : "is silent")
          + "; moving its shards to region-b, fencing first (new epoch written, then the old"
          + " owner's acknowledgement awaited)");
      for (int s = 0; s < SHARDS; s++) {
        if (!b.ownership.owns(s)) {
          MoveReport m = b.ownership.move(s, Duration.ofSeconds(5));
          moves.add(m);
          step("OPERATOR: shard " + s + ": " + m.detail() + " (old owner acknowledged: "
              + m.oldOwnerAcknowledged() + ")");
        }
      }
    }, "demo-operator");
    t.setDaemon(true);
    t.start();
  }

  private static int inject(DemoOptions.Fault fault, TwoRegions regions, DemoRegion a, DemoRegion b,
      History history) {
    switch (fault) {
      case CONSUMERS -> {
        step("FAULT: stopping region-a's consumers (its broker stays up); region-b should take over");
        int w = history.beginFault("region-a consumers stopped");
        a.stopConsuming();
        return w;
      }
      case BROKER -> {
        step("FAULT: stopping region-a's broker (its consumers stay); region-b should take over");
        int w = history.beginFault("region-a broker stopped");
        regions.a().stopBroker();
        return w;
      }
      case HANDOVER -> {
        step("PLANNED HANDOVER: region-a drains each of its shards and hands it to region-b at epoch+1");
        int w = history.beginFault("planned handover");
        for (int s = 0; s < SHARDS; s++) {
          if (a.ownership.owns(s)) {
            HandoverReport r = a.ownership.handOver(s, B, Duration.ofSeconds(20));
            step("handover of shard " + s + ": " + r.detail() + " in " + r.took().toMillis() + " ms");
          }
        }
        return w;
      }
      case PARTITION -> {
        step("FAULT: cutting the link between the regions both ways for " + PARTITION.toSeconds()
            + " s (both regions, brokers and consumers stay up; the publisher reaches both)");
        int w = history.beginFault("partition");
        regions.cutLink();
        return w;
      }
      default -> throw new IllegalStateException("fault not available: " + fault);
    }
  }

  /**
   * {@link History#check} while handlers still record runs: {@code History.handled} puts an id's run
   * list into the map before it adds the run, so a check at that instant meets an empty list
   * (IndexOutOfBoundsException, a testkit race); the next check sees the run.
   */
  private static History.Report check(History h, long graceNanos) {
    for (int attempt = 1; ; attempt++) {
      try {
        return h.check(graceNanos);
      } catch (IndexOutOfBoundsException racedWithARecordingHandler) {
        if (attempt == 10) {
          throw racedWithARecordingHandler;
        }
      }
    }
  }

  private static void progress(long published, History h, DemoRegion a, DemoRegion b) {
    History.Report r = check(h, 0);
    var lag = b.log.lag(A);
    System.out.printf("  [%5.1fs] published=%d processed=%d runs a=%d b=%d | lag a->b %d ms, %d behind | owned a=%d b=%d | takeovers=%d%n",
        (System.nanoTime() - STARTED) / 1e9, published, r.processed(), r.runsByRegion().getOrDefault("region-a", 0),
        r.runsByRegion().getOrDefault("region-b", 0),
        lag.timeLag() == null ? -1 : lag.timeLag().toMillis(), lag.recordsBehind(), a.ownedShards(SHARDS),
        b.ownedShards(SHARDS), a.takeovers().size() + b.takeovers().size());
  }

  private static final long STARTED = System.nanoTime();

  private static void step(String s) {
    System.out.printf("==> [%5.1fs] %s%n", (System.nanoTime() - STARTED) / 1e9, s);
  }

  private static long ms(long since) {
    return (System.nanoTime() - since) / 1_000_000;
  }

  private static void deleteQuietly(Path dir) {
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (java.io.IOException ignored) {
      // a temp directory
    }
  }
}
