package dev.tandem.consumer.internal;

import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.ProcessingContext;
import dev.tandem.store.ClaimResult;
import java.util.Optional;

/** The {@link ProcessingContext} a handler sees: the claim it runs under and the copy. */
public final class HandlerContext implements ProcessingContext {
  private final String id;
  private final int shard;
  private final int attempt;
  private final long epoch;
  private final IncomingMessage message;
  private final ClaimRenewer.LiveClaim live;
  private final ClaimResult.PreviousClaim previous;

  /**
   * @param id null for a pass-through copy
   * @param live the claim's renewal, null for a pass-through copy
   */
  public HandlerContext(String id, int shard, int attempt, long epoch, IncomingMessage message,
      ClaimRenewer.LiveClaim live, ClaimResult.PreviousClaim previous) {
    this.id = id;
    this.shard = shard;
    this.attempt = attempt;
    this.epoch = epoch;
    this.message = message;
    this.live = live;
    this.previous = previous;
  }

  @Override
  public Optional<ClaimResult.PreviousClaim> previousClaim() {
    return Optional.ofNullable(previous);
  }

  @Override
  public String id() {
    return id;
  }

  @Override
  public int shard() {
    return shard;
  }

  @Override
  public int attempt() {
    return attempt;
  }

  @Override
  public long epoch() {
    return epoch;
  }

  @Override
  public int deliveryAttempt() {
    return message.deliveryAttempt();
  }

  @Override
  public byte[] payload() {
    return message.payload();
  }

  @Override
  public Object transportMessage() {
    return message.transportMessage();
  }

  @Override
  public boolean claimLost() {
    return live != null && live.lost();
  }
}
