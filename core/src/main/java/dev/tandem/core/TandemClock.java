package dev.tandem.core;

/**
 * The two clocks Tandem reads: wall time (for HLC stamps, TTL buckets and staleness) and a monotonic
 * clock (for lease expiry and takeover timeouts, which are never judged by comparing wall clocks of
 * two machines). Tests substitute a {@link ManualClock}.
 */
public interface TandemClock {

  /** Wall-clock time, epoch millis. May step. */
  long wallMillis();

  /** Monotonic nanoseconds from an arbitrary origin, as {@link System#nanoTime()}. */
  long nanoTime();

  /** The system clocks. */
  static TandemClock system() {
    return SystemClock.INSTANCE;
  }

  /** The JDK's clocks. */
  enum SystemClock implements TandemClock {
    INSTANCE;

    @Override
    public long wallMillis() {
      return System.currentTimeMillis();
    }

    @Override
    public long nanoTime() {
      return System.nanoTime();
    }
  }
}
