package dev.tandem.store.replication;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The heartbeats of a {@link KafkaReplicationLog}: every {@code heartbeatInterval} one heartbeat per
 * shard through the changelog writer (the peers' lag and liveness come from them), but only while a
 * liveness check says what this replica serves is running (none registered: always), and while a
 * peer's copies go to the spool only every {@link #SPOOLING_HEARTBEAT_DIVISOR}th round.
 */
final class Heartbeats {

  private static final Logger LOG = LoggerFactory.getLogger(KafkaReplicationLog.class);

  /** While a peer is spooling, one heartbeat round in this many is sent. */
  static final int SPOOLING_HEARTBEAT_DIVISOR = 20;

  private final List<BooleanSupplier> livenessChecks = new CopyOnWriteArrayList<>();
  private final ChangelogWriter writer;
  private final int shardCount;

  Heartbeats(ChangelogWriter writer, int shardCount) {
    this.writer = writer;
    this.shardCount = shardCount;
  }

  void addLivenessCheck(BooleanSupplier alive) {
    livenessChecks.add(Objects.requireNonNull(alive, "alive"));
  }

  /** Schedules the rounds on {@code scheduler}; {@link Duration#ZERO} sends none. */
  void start(ScheduledExecutorService scheduler, Duration heartbeatInterval) {
    if (heartbeatInterval.isZero()) {
      return;
    }
    AtomicLong round = new AtomicLong();
    scheduler.scheduleAtFixedRate(() -> {
      try {
        // while a peer's copies go to the spool, its heartbeats would only fill the spool (a
        // region down for hours must not exhaust it with heartbeats): send every 20th round
        if (!alive()) {
          return; // what this replica serves is not running: the peer must see this region silent
        }
        if (round.getAndIncrement() % SPOOLING_HEARTBEAT_DIVISOR == 0 || writer.peerReachable()) {
          writer.heartbeat(shardCount);
        }
      } catch (Throwable e) {
        // Throwable: anything escaping a periodic task cancels every later round, silently (it
        // lands in the task's future, which nobody reads): the peer would see this region silent
        LOG.error("heartbeat round failed; the next round runs as scheduled", e);
      }
    }, 0, heartbeatInterval.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Whether any liveness check says yes (a check that throws says no); true with none. */
  boolean alive() {
    if (livenessChecks.isEmpty()) {
      return true;
    }
    for (BooleanSupplier c : livenessChecks) {
      try {
        if (c.getAsBoolean()) {
          return true;
        }
      } catch (RuntimeException | Error e) {
        LOG.warn("liveness check failed", e); // says no, as documented, whatever it threw
      }
    }
    return false;
  }
}
