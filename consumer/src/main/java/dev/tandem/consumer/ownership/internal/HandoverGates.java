package dev.tandem.consumer.ownership.internal;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The handover gate of each shard (not API): the batches of this region running on a shard, and
 * whether a planned handover drains it. Invariant: while a shard drains, {@link #beginWork} admits
 * no new batch, so once its in-flight count reaches 0 nothing of this region runs on the shard.
 */
public final class HandoverGates {

  private final Map<Integer, Gate> gates = new ConcurrentHashMap<>();

  private static final class Gate {
    boolean draining;
    int inFlight;
  }

  private Gate gate(int shard) {
    return gates.computeIfAbsent(shard, s -> new Gate());
  }

  /** Whether a handover drains {@code shard} now (this region may not process it meanwhile). */
  public boolean draining(int shard) {
    Gate g = gates.get(shard);
    if (g == null) {
      return false;
    }
    synchronized (g) {
      return g.draining;
    }
  }

  /** A batch of {@code shard} begins; false (do not process) while a handover drains it. */
  public boolean beginWork(int shard) {
    Gate g = gate(shard);
    synchronized (g) {
      if (g.draining) {
        return false;
      }
      g.inFlight++;
      return true;
    }
  }

  /** A batch begun with {@link #beginWork} ends. */
  public void endWork(int shard) {
    Gate g = gate(shard);
    synchronized (g) {
      g.inFlight--;
      g.notifyAll();
    }
  }

  /**
   * Starts draining {@code shard}: no new batch from now on.
   *
   * @throws IllegalStateException if a handover drains it already
   */
  public void startDraining(int shard) {
    Gate g = gate(shard);
    synchronized (g) {
      if (g.draining) {
        throw new IllegalStateException("shard " + shard + " is already being handed over");
      }
      g.draining = true;
    }
  }

  /**
   * Waits until no batch of {@code shard} is in flight, or the monotonic {@code deadlineNanos} on
   * {@code clock} passes.
   *
   * @return the batches still in flight (0 when drained)
   */
  public int awaitDrained(int shard, long deadlineNanos, java.util.function.LongSupplier clock)
      throws InterruptedException {
    Gate g = gate(shard);
    synchronized (g) {
      while (g.inFlight > 0) {
        long left = deadlineNanos - clock.getAsLong();
        if (left <= 0) {
          return g.inFlight;
        }
        g.wait(Math.max(1, left / 1_000_000));
      }
      return 0;
    }
  }

  /** Ends the drain of {@code shard}: batches are admitted again (or the lease moved away). */
  public void stopDraining(int shard) {
    Gate g = gate(shard);
    synchronized (g) {
      g.draining = false;
    }
  }
}
