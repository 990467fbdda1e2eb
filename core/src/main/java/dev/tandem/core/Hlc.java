package dev.tandem.core;

import java.util.concurrent.atomic.AtomicLong;

/**
 * A hybrid logical clock (Kulkarni et al.): a 64-bit stamp of 48 bits of wall-clock millis and 16
 * bits of logical counter. Stamps issued by one clock strictly increase; after {@link #observe} of a
 * remote stamp, every later local stamp is greater than it. It orders updates across regions without
 * trusting either region's wall clock to be right, only to be roughly close. Thread-safe, lock-free.
 */
public final class Hlc {

  private static final int LOGICAL_BITS = 16;
  private static final long LOGICAL_MASK = (1L << LOGICAL_BITS) - 1;

  private final TandemClock clock;
  private final AtomicLong last = new AtomicLong();

  public Hlc(TandemClock clock) {
    this.clock = clock;
  }

  /** An HLC on the system clock. */
  public static Hlc system() {
    return new Hlc(TandemClock.system());
  }

  /** A new stamp, greater than every stamp issued or observed before. */
  public long tick() {
    long physical = clock.wallMillis() << LOGICAL_BITS;
    while (true) {
      long prev = last.get();
      long next = Math.max(physical, prev + 1);
      if (last.compareAndSet(prev, next)) {
        return next;
      }
    }
  }

  /** Merges a remote stamp so that later ticks exceed it; returns the new local stamp. */
  public long observe(long remote) {
    long physical = clock.wallMillis() << LOGICAL_BITS;
    while (true) {
      long prev = last.get();
      long next = Math.max(Math.max(physical, prev + 1), remote + 1);
      if (last.compareAndSet(prev, next)) {
        return next;
      }
    }
  }

  /** The wall-clock millis part of a stamp. */
  public static long physicalMillis(long stamp) {
    return stamp >>> LOGICAL_BITS;
  }

  /** The logical counter part of a stamp. */
  public static int logical(long stamp) {
    return (int) (stamp & LOGICAL_MASK);
  }
}
