package dev.tandem.azure.functions;

import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.Outcome;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.Envelope;
import dev.tandem.core.Shards;
import dev.tandem.core.TandemHeaders;
import dev.tandem.store.Phase;
import java.time.Duration;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.IntToLongFunction;

/**
 * One trigger's message through the once-processor under shard ownership, for {@link
 * TandemFunctions} and {@link TandemMiddleware}: the owner processes (after its heartbeat's renewal is
 * fresh, inside {@code beginWork}/{@code endWork} so that a planned handover waits for it); a
 * follower never runs the handler and waits {@code followerHold} for the owner's COMPLETED to
 * replicate; a message without a readable envelope goes to the processor in any region. What the
 * follower holds and what settles is told to the heartbeat ({@link ShardHeartbeats#holding}, {@link
 * ShardHeartbeats#settled}), which drives takeovers from it.
 *
 * <p>Invariant: the handler runs only in the shard's owner region, at the lease's epoch, between
 * {@code beginWork} and {@code endWork} — or, without ownership, at {@code epochOfShard}'s epoch.
 */
final class TriggerProcessing {

  private final OnceProcessor processor;
  private final int shardCount;
  private final IntToLongFunction epochOfShard;
  private final long followerHoldNanos;
  /** Null without ownership: then every shard is processed here at its given epoch. */
  private final ShardOwnership ownership;
  /** Null without ownership. */
  private final ShardHeartbeats heartbeats;

  TriggerProcessing(OnceProcessor processor, int shardCount, IntToLongFunction epochOfShard,
      Duration followerHold, ShardOwnership ownership, ShardHeartbeats heartbeats) {
    this.processor = processor;
    this.shardCount = shardCount;
    this.epochOfShard = epochOfShard;
    this.followerHoldNanos = followerHold.toNanos();
    this.ownership = ownership;
    this.heartbeats = heartbeats;
  }

  /**
   * Runs the message through the processor under shard ownership. Returns the outcome, settled or
   * not (the caller maps an unsettled one to a trigger retry).
   */
  Outcome run(IncomingMessage message, MessageHandler handler) {
    int shard = message.shard();
    if (ownership == null) {
      Outcome outcome = processor.process(message, epochOfShard.applyAsLong(shard), handler);
      if (outcome instanceof Outcome.RetryLater r && r.reason() == Outcome.RetryReason.FENCED) {
        outcome = follow(message, r);
      }
      return outcome;
    }
    boolean owner = ownership.owns(shard);
    Optional<Envelope> envelope = processor.envelopeOf(message);
    String id = envelope.map(Envelope::id).orElse(message.header(TandemHeaders.ID));
    Outcome outcome;
    if (owner) {
      // A planned handover (a failback) waits for the work begun here and admits none while it
      // drains: else the new owner would take the old-epoch claim over while this handler runs,
      // and run it a second time.
      if (!ownership.pollLoop().beginWork(shard)) {
        return new Outcome.RetryLater(id, Outcome.RetryReason.FENCED, Duration.ofSeconds(1),
            "shard " + shard + " is being handed over by this region");
      }
      try {
        if (!ownership.owns(shard)) {
          // handed over between the check above and beginWork: a follower's copy now
          outcome = new Outcome.RetryLater(id, Outcome.RetryReason.FENCED, Duration.ZERO,
              "shard " + shard + " is owned by " + ownership.lease(shard).owner());
        } else {
          // An owner whose heartbeats stopped (own broker silent) may have been taken over: it
          // renews (and re-reads the changelogs) before processing, or does not process at all.
          String silent = heartbeats.ensureRenewed();
          if (silent != null) {
            return new Outcome.RetryLater(id, Outcome.RetryReason.FENCED, Duration.ofSeconds(1),
                "this region owns shard " + shard + " but cannot renew its lease: " + silent);
          }
          outcome = processor.process(message, ownership.epoch(shard), handler);
        }
      } finally {
        ownership.pollLoop().endWork(shard);
      }
    } else if (envelope.isPresent()) {
      // A follower never runs the handler; the processor's fence says so too, this saves a claim try.
      outcome = new Outcome.RetryLater(id, Outcome.RetryReason.FENCED, Duration.ZERO,
          "shard " + shard + " is owned by " + ownership.lease(shard).owner());
    } else {
      // no readable envelope: the processor dead-letters it (or passes it through), in any region
      outcome = processor.process(message, ownership.epoch(shard), handler);
    }
    if (outcome instanceof Outcome.RetryLater r && r.reason() == Outcome.RetryReason.FENCED) {
      outcome = follow(message, r);
      if (!outcome.settled()) {
        heartbeats.holding(shard, id);
        return outcome;
      }
      heartbeats.settled(shard, id, false);
      return outcome;
    }
    if (outcome.settled()) {
      heartbeats.settled(shard, id, owner);
    }
    return outcome;
  }

  /** Whether the message's id is already COMPLETED here (what the middleware may skip). */
  boolean isCompleted(IncomingMessage message) {
    return processor.terminalPhase(message).filter(p -> p == Phase.COMPLETED).isPresent();
  }

  /** A follower waits briefly for the owner's COMPLETED (or DEAD_LETTERED) to replicate. */
  Outcome follow(IncomingMessage message, Outcome.RetryLater fenced) {
    long deadline = System.nanoTime() + followerHoldNanos;
    while (true) {
      Optional<Phase> phase = processor.terminalPhase(message);
      if (phase.isPresent()) {
        return new Outcome.Skipped(fenced.id(), phase.get());
      }
      if (System.nanoTime() - deadline >= 0) {
        return fenced;
      }
      // Polling the local store: the owner's record arrives through replication.
      java.util.concurrent.locks.LockSupport.parkNanos(
          Math.min(20_000_000L, deadline - System.nanoTime()));
    }
  }

  /** The message's shard: {@code tandem-shard}, else the hash of its id (0 without either). */
  int shardOf(Function<String, String> headers) {
    String shard = headers.apply(TandemHeaders.SHARD);
    if (shard != null) {
      try {
        int s = Integer.parseInt(shard);
        if (s >= 0) {
          return s;
        }
      } catch (NumberFormatException e) {
        // malformed: the envelope check dead-letters it; any shard will do meanwhile
      }
    }
    String id = headers.apply(TandemHeaders.ID);
    return id == null ? 0 : Shards.forKey(id, shardCount);
  }
}
