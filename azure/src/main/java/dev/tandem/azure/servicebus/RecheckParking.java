package dev.tandem.azure.servicebus;

import dev.tandem.consumer.DeadLetterReason;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.store.Phase;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * What {@link TandemServiceBusProcessor} does with a received copy it cannot settle now: a
 * follower's copy waits {@code followerHold} for the owner's COMPLETED (or DEAD_LETTERED) to
 * replicate and is settled the same way; else — and for a copy whose id another claim holds — a
 * recheck copy is scheduled in the entity ({@link RecheckScheduler}) and the delivered message
 * completed, or, past the recheck bound, dead-lettered ({@code RECHECK_LIMIT}). Without a recheck
 * sender the copy is abandoned (redelivered by the entity).
 *
 * <p>Invariant: the delivered message is completed only once its recheck copy is on the broker;
 * a failed schedule abandons it, so the original stays.
 */
final class RecheckParking {

  private final OnceProcessor processor;
  /** Null without a recheck sender: a follower then abandons. */
  private final RecheckScheduler recheck;
  private final Duration followerHold;
  private final Duration pollInterval;
  /** Counts a settlement outcome ({@code tandem.servicebus.settled}). */
  private final Consumer<String> count;

  RecheckParking(OnceProcessor processor, RecheckScheduler recheck, Duration followerHold,
      Duration pollInterval, Consumer<String> count) {
    this.processor = processor;
    this.recheck = recheck;
    this.followerHold = followerHold;
    this.pollInterval = pollInterval;
    this.count = count;
  }

  /** A follower holds the copy briefly for the owner's COMPLETED, then parks a recheck copy. */
  void follow(Settlement settlement, IncomingMessage incoming) {
    long deadline = System.nanoTime() + followerHold.toNanos();
    while (true) {
      Optional<Phase> phase = processor.terminalPhase(incoming);
      if (phase.isPresent()) {
        if (phase.get() == Phase.COMPLETED) {
          settlement.complete();
          count.accept("follower-complete");
        } else {
          settlement.deadLetter(phase.get().name(), "the owner region settled this id as "
              + phase.get());
          count.accept("dead-letter");
        }
        return;
      }
      if (System.nanoTime() - deadline >= 0) {
        break;
      }
      // Polling the local store: the owner's record arrives through replication, not a callback here.
      LockSupport.parkNanos(Math.min(pollInterval.toNanos(), deadline - System.nanoTime()));
    }
    if (recheck == null) {
      settlement.abandon();
      count.accept("abandon");
      return;
    }
    park(settlement, recheck.delay(), "recheck-scheduled");
  }

  /**
   * Parks a recheck copy {@code after} from now and completes the delivered message; past the
   * recheck bound, dead-letters it instead.
   */
  void park(Settlement settlement, Duration after, String outcome) {
    try {
      recheck.schedule(settlement.message(), after, settlement.entityPath());
    } catch (RecheckScheduler.LimitExceeded e) {
      settlement.deadLetter(DeadLetterReason.RECHECK_LIMIT.name(), e.getMessage());
      count.accept("dead-letter");
      return;
    } catch (RecheckScheduler.Misrouted e) {
      settlement.abandon(); // a misconfiguration (logged): no copy through the topic, keep this one
      count.accept("abandon");
      return;
    } catch (RuntimeException e) {
      settlement.abandon(); // no copy on the broker: keep the original
      count.accept("abandon");
      throw e;
    }
    settlement.complete(); // only once the copy is on the broker
    count.accept(outcome);
  }
}
