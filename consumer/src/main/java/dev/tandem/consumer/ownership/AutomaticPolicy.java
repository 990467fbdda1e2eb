package dev.tandem.consumer.ownership;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * The AUTOMATIC policy: availability first. A follower takes over after silence ({@code L + margin}
 * on its own monotonic clock) or after the owner heartbeats without progress while the follower
 * holds an uncompleted message for {@code stuckAfter}. A dead peer cannot be told from a partition,
 * so under a partition both sides may process; the store detects and counts those duplicates.
 */
final class AutomaticPolicy implements OwnershipPolicy {

  private final Duration silence;
  private final Duration leaseTimeout;
  private final Duration margin;
  private final Duration stuckAfter;

  AutomaticPolicy(Duration leaseTimeout, Duration margin, Duration stuckAfter) {
    Objects.requireNonNull(leaseTimeout, "leaseTimeout");
    Objects.requireNonNull(margin, "margin");
    this.silence = leaseTimeout.plus(margin);
    this.leaseTimeout = leaseTimeout;
    this.margin = margin;
    this.stuckAfter = Objects.requireNonNull(stuckAfter, "stuckAfter");
  }

  @Override
  public Optional<TakeoverDecision> shouldTakeOver(ShardObservation o) {
    if (o.silentFor().compareTo(silence) > 0) {
      return Optional.of(new TakeoverDecision("no heartbeat from " + o.lease().owner() + " for "
          + o.silentFor() + " (> L + margin = " + silence + ")", TakeoverDecision.Basis.SILENCE));
    }
    if (!o.heldFor().isZero() && o.heldFor().compareTo(stuckAfter) > 0
        && o.progressStalledFor().compareTo(stuckAfter) > 0) {
      return Optional.of(new TakeoverDecision(o.lease().owner() + " heartbeats without progress for "
          + o.progressStalledFor() + " while this follower holds a message for " + o.heldFor(),
          TakeoverDecision.Basis.NO_PROGRESS));
    }
    return Optional.empty();
  }

  @Override
  public Optional<Duration> leaseTimeout() {
    return Optional.of(leaseTimeout);
  }

  @Override
  public Optional<Duration> takeoverMargin() {
    return Optional.of(margin);
  }

  @Override
  public Optional<Duration> stuckAfter() {
    return Optional.of(stuckAfter);
  }

  @Override
  public String name() {
    return "AUTOMATIC";
  }
}
