package dev.tandem.store.replication;

import dev.tandem.core.TandemClock;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.StoreMeterNames;
import dev.tandem.store.spi.ReplicaStore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * (Why just over 500 lines: it is the one thread that owns the Kafka consumer, and every command it
 * runs — assign, restore, revoke, catch up to the end — must run on that thread; applying what it
 * reads is already {@link BatchApplier}, lag {@link LagTracker}.)
 *
 * <p>The one thread that reads the own region's changelog: a {@link Consumer} with manual {@code assign}
 * (no group) on the partitions of the materialised shards. Restore before serve: when a shard is
 * assigned, its partition is positioned at the checkpoint (or the beginning), its end offset is
 * captured, and the shard counts as restored only once the position reached that end offset.
 *
 * <p>Threading: the consumer is touched by this thread only; other threads hand it commands (a queue
 * plus {@link Consumer#wakeup()}). Shard states and their {@code restored} futures are readable from
 * any thread.
 */
final class ChangelogReader implements Runnable {

  private static final Logger LOG = LoggerFactory.getLogger(ChangelogReader.class);

  /** The replica view: replication merges remote changes and drops shards through the SPI. */
  private final ReplicaStore store;
  private final Consumer<byte[], byte[]> consumer;
  private final String topic;
  private final BatchApplier applier;
  private final LagTracker lag;
  private final TandemClock clock;
  private final Duration pollTimeout;
  private final Duration apiTimeout;
  private final IntFunction<List<String>> checkpointKeysOfShard;
  private final String ownCheckpointPrefix;
  private final BlockingQueue<Runnable> commands = new LinkedBlockingQueue<>();
  private final Map<Integer, ShardState> shards = new ConcurrentHashMap<>();
  /**
   * Shards this reader dropped (revoked) since it began: the drop deleted this writer's own changes
   * of them, so their own changes read back must be applied again (restore), never skipped.
   */
  private final Set<Integer> droppedOnce = ConcurrentHashMap.newKeySet();
  /** The checkpoint keys of the own partitions, built once each (asked for every partition of every poll). */
  private final Map<Integer, String> checkpointKeys = new ConcurrentHashMap<>();
  /** What {@link #step} hands the applier on every poll, made once. */
  private final java.util.function.Function<TopicPartition, String> checkpointKeyOfPartition =
      tp -> checkpointKey(tp.partition());
  private final java.util.function.IntPredicate ownChangesInStore = p -> !droppedOnce.contains(p);
  private final List<EndWaiter> waiters = new ArrayList<>();
  private final Counter restoreRecords;
  private final Timer restoreTimer;
  private final Counter applyErrors;
  private final Counter readerErrors;
  private volatile boolean running = true;
  /** Where hand-off markers read from the own region's changelog go. */
  private volatile java.util.function.Consumer<ChangelogEntry.HandoffMarker> markers = m -> {};
  private final Thread thread;

  /** A materialised shard; {@code restored} completes when restore reached {@code restoreEnd}. */
  static final class ShardState {
    final int shard;
    final TopicPartition tp;
    final CompletableFuture<Void> restored = new CompletableFuture<>();
    final long startNanos;
    /** End offset captured when the restore began; -1 until captured (poll thread only). */
    long restoreEnd = -1;
    long records;

    ShardState(int shard, TopicPartition tp, long startNanos) {
      this.shard = shard;
      this.tp = tp;
      this.startNanos = startNanos;
    }
  }

  /** A caller waiting until the positions of some partitions reach the end offsets captured for it. */
  private static final class EndWaiter {
    final Map<TopicPartition, Long> ends;
    final CompletableFuture<Long> done = new CompletableFuture<>();
    long records;

    EndWaiter(Map<TopicPartition, Long> ends) {
      this.ends = ends;
    }
  }

  ChangelogReader(
      IdempotencyStore store,
      Consumer<byte[], byte[]> consumer,
      String topic,
      BatchApplier applier,
      LagTracker lag,
      TandemClock clock,
      Duration pollTimeout,
      Duration apiTimeout,
      IntFunction<List<String>> checkpointKeysOfShard,
      MeterRegistry meters) {
    this.store = ReplicaStore.of(store);
    this.consumer = consumer;
    this.topic = topic;
    this.applier = applier;
    this.lag = lag;
    this.clock = clock;
    this.pollTimeout = pollTimeout;
    this.apiTimeout = apiTimeout;
    this.checkpointKeysOfShard = checkpointKeysOfShard;
    this.ownCheckpointPrefix = topic + "/";
    String region = store.owner().region().name();
    this.restoreRecords = meters.counter(StoreMeterNames.REPLICATION_RESTORE_RECORDS, "region", region);
    this.restoreTimer = Timer.builder(StoreMeterNames.REPLICATION_RESTORE)
        .tag("region", region)
        .description("time from assign to restored, per shard")
        .register(meters);
    this.applyErrors = meters.counter(StoreMeterNames.REPLICATION_APPLY_ERRORS, "region", region);
    this.readerErrors = meters.counter(StoreMeterNames.REPLICATION_READER_ERRORS, "region", region);
    this.thread = new Thread(this, "tandem-changelog-reader-" + region);
    this.thread.setDaemon(true);
  }

  void start() {
    thread.start();
  }

  /** Receives every hand-off marker this reader applies (set before {@link #start()}). */
  void onHandoffMarker(java.util.function.Consumer<ChangelogEntry.HandoffMarker> sink) {
    this.markers = sink;
  }

  /** The checkpoint key of an own-region partition. */
  String checkpointKey(int partition) {
    String key = checkpointKeys.get(partition);
    if (key == null) {
      key = ownCheckpointPrefix + partition;
      checkpointKeys.putIfAbsent(partition, key);
    }
    return key;
  }

  // ---- called from any thread ----

  /** Registers the shards (not restored yet) and lets the reader thread start their restore. */
  void assign(Set<Integer> newShards) {
    List<ShardState> added = new ArrayList<>();
    for (int shard : newShards) {
      ShardState s = new ShardState(shard, new TopicPartition(topic, shard), clock.nanoTime());
      if (shards.putIfAbsent(shard, s) == null) {
        added.add(s);
      }
    }
    if (!added.isEmpty()) {
      submit(() -> startRestore(added));
    }
  }

  /** Stops reading the shards and drops their state (on the reader thread); blocks until done. */
  CompletableFuture<Void> revoke(Set<Integer> gone) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    submit(() -> {
      try {
        dropShards(gone);
        done.complete(null);
      } catch (RuntimeException | Error e) {
        done.completeExceptionally(e); // its caller blocks on it: answered whatever was thrown
      }
    });
    return done;
  }

  /**
   * Completes (with the records read meanwhile) once the positions of {@code shards}' partitions
   * reach their end offsets as of now; exceptionally if one is not assigned here.
   */
  CompletableFuture<Long> awaitCurrentEnd(Set<Integer> wanted) {
    CompletableFuture<Long> result = new CompletableFuture<>();
    submit(() -> {
      List<TopicPartition> tps = new ArrayList<>();
      for (int shard : wanted) {
        ShardState s = shards.get(shard);
        if (s == null) {
          result.completeExceptionally(
              new ShardNotReadyException(shard, ShardNotReadyException.Reason.NOT_ASSIGNED,
                  Duration.ZERO));
          return;
        }
        tps.add(s.tp);
      }
      Map<TopicPartition, Long> ends;
      try {
        ends = consumer.endOffsets(tps, apiTimeout);
      } catch (WakeupException e) {
        throw e;
      } catch (RuntimeException e) {
        result.completeExceptionally(e);
        return;
      }
      EndWaiter w = new EndWaiter(new HashMap<>(ends));
      w.done.whenComplete((v, e) -> {
        if (e == null) {
          result.complete(v);
        } else {
          result.completeExceptionally(e);
        }
      });
      waiters.add(w);
      checkWaiters();
    });
    return result;
  }

  ShardState state(int shard) {
    return shards.get(shard);
  }

  Set<Integer> shards() {
    return Set.copyOf(shards.keySet());
  }

  boolean isRestored(int shard) {
    ShardState s = shards.get(shard);
    return s != null && s.restored.isDone() && !s.restored.isCompletedExceptionally();
  }

  private void submit(Runnable command) {
    if (!running) {
      throw new IllegalStateException("the changelog reader is closed");
    }
    commands.add(command);
    consumer.wakeup();
  }

  void close(Duration timeout) {
    running = false;
    consumer.wakeup();
    try {
      thread.join(timeout.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    ShardNotReadyException closed =
        new ShardNotReadyException(-1, ShardNotReadyException.Reason.CLOSED, Duration.ZERO);
    for (ShardState s : shards.values()) {
      s.restored.completeExceptionally(closed);
    }
  }

  // ---- the reader thread ----

  @Override
  public void run() {
    try {
      while (running) {
        try {
          step();
        } catch (WakeupException | InterruptException e) {
          // a command arrived or we are closing: loop
        } catch (RuntimeException | Error e) {
          if (!running) {
            break;
          }
          // never let the reader thread die: replication must go on once the cause is gone (an
          // Error too: a StackOverflowError or LinkageError in a step would otherwise end it)
          readerErrors.increment();
          LOG.error("changelog reader step failed; retrying", e);
          pause();
        }
      }
    } finally {
      // commands that arrived while closing still run (a revoke must not hang its caller)
      Runnable c;
      while ((c = commands.poll()) != null) {
        runCommand(c);
      }
      for (EndWaiter w : waiters) {
        w.done.completeExceptionally(new IllegalStateException("the changelog reader closed"));
      }
      try {
        consumer.close(Duration.ofSeconds(5));
      } catch (RuntimeException e) {
        LOG.warn("closing the changelog consumer failed", e);
      }
    }
  }

  /** Runs a command; one cut short by a wakeup (meant for poll) runs again. */
  private void runCommand(Runnable c) {
    while (true) {
      try {
        c.run();
        return;
      } catch (WakeupException e) {
        // the wakeup of a later command hit this one's blocking call: run it again
      } catch (RuntimeException e) {
        LOG.error("a changelog reader command failed", e);
        return;
      }
    }
  }

  private void step() {
    Runnable c;
    while ((c = commands.poll()) != null) {
      runCommand(c);
    }
    if (shards.isEmpty()) {
      try {
        Runnable next = commands.poll(pollTimeout.toMillis(), TimeUnit.MILLISECONDS);
        if (next != null) {
          runCommand(next);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        running = false;
      }
      return;
    }
    captureRestoreEnds();
    ConsumerRecords<byte[], byte[]> records = consumer.poll(pollTimeout);
    Map<TopicPartition, Integer> counts;
    try {
      counts = applier.apply(records, checkpointKeyOfPartition, markers, ownChangesInStore);
    } catch (RuntimeException e) {
      if (!running) {
        return;
      }
      // the store refused the batch: read it again (merges are idempotent), after a pause
      applyErrors.increment();
      LOG.error("applying {} changelog records failed; re-reading them", records.count(), e);
      for (TopicPartition tp : records.partitions()) {
        List<ConsumerRecord<byte[], byte[]>> part = records.records(tp);
        if (shards.containsKey(tp.partition())) {
          consumer.seek(tp, part.get(0).offset());
        }
      }
      pause();
      return;
    }
    for (Map.Entry<TopicPartition, Integer> e : counts.entrySet()) {
      ShardState s = shards.get(e.getKey().partition());
      if (s != null && !s.restored.isDone()) {
        s.records += e.getValue();
      }
      for (EndWaiter w : waiters) {
        if (w.ends.containsKey(e.getKey())) {
          w.records += e.getValue();
        }
      }
    }
    checkRestored();
    checkWaiters();
    updateRecordsBehind();
  }

  private void pause() {
    try {
      Runnable next = commands.poll(pollTimeout.toMillis() * 10, TimeUnit.MILLISECONDS);
      if (next != null) {
        runCommand(next);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      running = false;
    }
  }

  private void startRestore(List<ShardState> added) {
    Set<TopicPartition> all = new HashSet<>();
    for (ShardState s : shards.values()) {
      all.add(s.tp);
    }
    consumer.assign(all);
    Map<String, Long> checkpoints = store.checkpoints();
    for (ShardState s : added) {
      Long next = checkpoints.get(checkpointKey(s.shard));
      if (next != null) {
        consumer.seek(s.tp, next);
      } else {
        consumer.seekToBeginning(List.of(s.tp));
      }
      LOG.info("restoring shard {} from {} starting at {}", s.shard, s.tp,
          next == null ? "the beginning" : "checkpoint " + next);
    }
    captureRestoreEnds();
    checkRestored();
  }

  /** Captures the end offsets of shards whose restore has none yet (retried while the broker is away). */
  private void captureRestoreEnds() {
    List<TopicPartition> missing = new ArrayList<>();
    for (ShardState s : shards.values()) {
      if (s.restoreEnd < 0) {
        missing.add(s.tp);
      }
    }
    if (missing.isEmpty()) {
      return;
    }
    Map<TopicPartition, Long> ends;
    try {
      ends = consumer.endOffsets(missing, apiTimeout);
    } catch (org.apache.kafka.common.errors.TimeoutException e) {
      LOG.warn("end offsets of {} not available yet ({}); restore waits", missing, e.getMessage());
      return;
    }
    for (Map.Entry<TopicPartition, Long> e : ends.entrySet()) {
      ShardState s = shards.get(e.getKey().partition());
      if (s != null && s.restoreEnd < 0) {
        s.restoreEnd = e.getValue();
      }
    }
  }

  private void checkRestored() {
    for (ShardState s : shards.values()) {
      if (s.restored.isDone() || s.restoreEnd < 0) {
        continue;
      }
      long position;
      try {
        position = consumer.position(s.tp, apiTimeout);
      } catch (org.apache.kafka.common.errors.TimeoutException e) {
        continue;
      }
      if (position >= s.restoreEnd) {
        long nanos = clock.nanoTime() - s.startNanos;
        restoreTimer.record(nanos, TimeUnit.NANOSECONDS);
        restoreRecords.increment(s.records);
        double seconds = nanos / 1e9;
        LOG.info("restored shard {} from {}: {} records in {} s ({} records/s), end offset {}",
            s.shard, s.tp, s.records, String.format("%.3f", seconds),
            seconds > 0 ? Math.round(s.records / seconds) : s.records, s.restoreEnd);
        s.restored.complete(null);
      }
    }
  }

  private void checkWaiters() {
    for (Iterator<EndWaiter> it = waiters.iterator(); it.hasNext(); ) {
      EndWaiter w = it.next();
      if (w.done.isDone()) {
        it.remove();
        continue;
      }
      boolean reached = true;
      for (Map.Entry<TopicPartition, Long> e : w.ends.entrySet()) {
        if (!shards.containsKey(e.getKey().partition())) {
          w.done.completeExceptionally(new ShardNotReadyException(e.getKey().partition(),
              ShardNotReadyException.Reason.NOT_ASSIGNED, Duration.ZERO));
          reached = false;
          break;
        }
        try {
          if (consumer.position(e.getKey(), apiTimeout) < e.getValue()) {
            reached = false;
            break;
          }
        } catch (KafkaException ex) {
          reached = false;
          break;
        }
      }
      if (reached) {
        w.done.complete(w.records);
      }
      if (w.done.isDone()) {
        it.remove();
      }
    }
  }

  private void updateRecordsBehind() {
    long behind = 0;
    for (TopicPartition tp : consumer.assignment()) {
      OptionalLong l = consumer.currentLag(tp);
      if (l.isPresent()) {
        behind += l.getAsLong();
      }
    }
    lag.recordsBehind(behind);
  }

  private void dropShards(Set<Integer> gone) {
    List<ShardState> removed = new ArrayList<>();
    for (int shard : gone) {
      ShardState s = shards.remove(shard);
      if (s != null) {
        removed.add(s);
      }
    }
    Set<TopicPartition> remaining = new HashSet<>();
    for (ShardState s : shards.values()) {
      remaining.add(s.tp);
    }
    consumer.assign(remaining);
    for (ShardState s : removed) {
      droppedOnce.add(s.shard); // before the drop: no later apply may skip what it deletes
      store.dropShard(s.shard, checkpointKeysOfShard.apply(s.shard));
      s.restored.completeExceptionally(new ShardNotReadyException(
          s.shard, ShardNotReadyException.Reason.NOT_ASSIGNED, Duration.ZERO));
      LOG.info("revoked shard {}: stopped reading {} and dropped its state", s.shard, s.tp);
    }
  }
}
