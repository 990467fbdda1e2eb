package dev.tandem.consumer.internal;

import dev.tandem.consumer.IncomingMessage;
import dev.tandem.core.Envelope;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.RecordKey;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * One copy whose envelope checked out, as the claim → handler → complete flow carries it: its claim
 * answer and, once acquired, the renewal of that claim and what its handler waits for. Mutable and
 * confined to the thread processing the copy's batch.
 */
public final class ClaimAttempt {

  public final IncomingMessage message;
  public final Envelope envelope;
  /** Whether the id was derived from the payload (such copies are never stale). */
  public final boolean derived;
  /** The shard lease epoch the copy is claimed under. */
  public long epoch;
  /** The claim answer as the processor acts on it (see {@link ParkedClaims#adopt}). */
  public ClaimResult claim;
  /** The renewal of an acquired claim, from the claim until its handler ends. */
  public ClaimRenewer.LiveClaim live;
  /** The parked claim this delivery resumed, if any. */
  public ParkedClaims.Parked resumed;
  /** The barrier taken for this batch's claims of the shard. */
  public CompletableFuture<Void> fresh;
  /** What this claim's handler waits for: {@link #fresh}, or the first of it and its resumed ones. */
  public CompletableFuture<Void> durable;

  public ClaimAttempt(IncomingMessage message, Envelope envelope, boolean derived) {
    this.message = Objects.requireNonNull(message, "message");
    this.envelope = Objects.requireNonNull(envelope, "envelope");
    this.derived = derived;
  }

  /** From a valid envelope check. */
  public static ClaimAttempt of(EnvelopeCheck.Valid v) {
    return new ClaimAttempt(v.message(), v.envelope(), v.derived());
  }

  public String id() {
    return envelope.id();
  }

  public int shard() {
    return message.shard();
  }

  public RecordKey key() {
    return new RecordKey(message.shard(), envelope.id());
  }
}
