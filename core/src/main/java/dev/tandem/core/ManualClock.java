package dev.tandem.core;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/** A {@link TandemClock} that moves only when told to; for tests of TTL, leases and takeover. */
public final class ManualClock implements TandemClock {

  private final AtomicLong wallMillis;
  private final AtomicLong nanos = new AtomicLong();

  public ManualClock(long startWallMillis) {
    this.wallMillis = new AtomicLong(startWallMillis);
  }

  /** Moves both clocks forward by {@code d}. */
  public void advance(Duration d) {
    if (d.isNegative()) {
      throw new IllegalArgumentException("time only moves forward: " + d);
    }
    wallMillis.addAndGet(d.toMillis());
    nanos.addAndGet(d.toNanos());
  }

  /** Sets the wall clock only (a step, as NTP may make); the monotonic clock does not move. */
  public void setWallMillis(long millis) {
    wallMillis.set(millis);
  }

  @Override
  public long wallMillis() {
    return wallMillis.get();
  }

  @Override
  public long nanoTime() {
    return nanos.get();
  }
}
