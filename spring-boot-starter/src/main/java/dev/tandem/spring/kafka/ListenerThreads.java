package dev.tandem.spring.kafka;

import dev.tandem.core.TandemClock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which container thread serves which shards, and which of them runs a listener now and since when:
 * what {@link TandemListenerSupport}'s ticker needs to tell a stuck listener (beyond {@code
 * handlerTimeout}) and the shards it blocks. Moved out of {@code TandemListenerSupport} unchanged.
 * Thread-safe.
 */
final class ListenerThreads {

  private final TandemClock clock;
  /** Per container thread: when its running listener started (monotonic), for the stuck check. */
  private final Map<Thread, Long> running = new ConcurrentHashMap<>();
  /**
   * Per container thread: the shards whose records it was last given (a thread may serve several
   * partitions; a partition handed to another thread moves to that thread's set on its next record).
   * A stuck thread's shards are all stuck: their records are neither processed nor acknowledged.
   */
  private final Map<Thread, Set<Integer>> shardsOf = new ConcurrentHashMap<>();

  ListenerThreads(TandemClock clock) {
    this.clock = clock;
  }

  /** The calling container thread was given a record of {@code shard}. */
  void given(int shard) {
    Thread me = Thread.currentThread();
    if (shardsOf.computeIfAbsent(me, t -> ConcurrentHashMap.newKeySet()).add(shard)) {
      for (Map.Entry<Thread, Set<Integer>> e : shardsOf.entrySet()) {
        if (e.getKey() != me) {
          e.getValue().remove(shard);
        }
      }
    }
  }

  /** The calling thread starts running a listener. */
  void started() {
    running.put(Thread.currentThread(), clock.nanoTime());
  }

  /** The calling thread's listener returned (call in a finally block). */
  void ended() {
    running.remove(Thread.currentThread());
  }

  /** A thread whose listener has run beyond the timeout: for how long, and its shards. */
  record Stuck(Thread thread, Duration ran, Set<Integer> shards) {}

  /** The threads whose listener has run longer than {@code handlerTimeout} now. */
  Map<Thread, Stuck> stuck(Duration handlerTimeout) {
    Map<Thread, Stuck> out = new LinkedHashMap<>();
    long now = clock.nanoTime();
    for (Map.Entry<Thread, Long> e : running.entrySet()) {
      Duration ran = Duration.ofNanos(now - e.getValue());
      if (ran.compareTo(handlerTimeout) > 0) {
        out.put(e.getKey(), new Stuck(e.getKey(), ran,
            Set.copyOf(shardsOf.getOrDefault(e.getKey(), Set.of()))));
      }
    }
    return out;
  }
}
