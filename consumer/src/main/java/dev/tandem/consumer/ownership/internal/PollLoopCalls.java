package dev.tandem.consumer.ownership.internal;

import dev.tandem.consumer.ownership.HandoverReport;
import dev.tandem.consumer.ownership.OwnershipPollLoop;
import dev.tandem.consumer.ownership.TakeoverReport;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;

/** {@link OwnershipPollLoop} over the parts of one region's ownership (not API). */
public final class PollLoopCalls implements OwnershipPollLoop {

  private final HandoverGates gates;
  private final ReplicationWindow window;
  private final LeaseRenewal renewal;
  private final Takeover takeover;
  private final Failback failback;

  public PollLoopCalls(HandoverGates gates, ReplicationWindow window, LeaseRenewal renewal,
      Takeover takeover, Failback failback) {
    this.gates = gates;
    this.window = window;
    this.renewal = renewal;
    this.takeover = takeover;
    this.failback = failback;
  }

  @Override
  public boolean beginWork(int shard) {
    return gates.beginWork(shard);
  }

  @Override
  public void endWork(int shard) {
    gates.endWork(shard);
  }

  @Override
  public long windowRoom(int shard) {
    return window.room(shard);
  }

  @Override
  public boolean windowFull(int shard) {
    return window.room(shard) <= 0;
  }

  @Override
  public void heartbeat(int shard, long position) {
    renewal.heartbeat(shard, position);
  }

  @Override
  public void ownerAlive(int shard) {
    renewal.ownerAlive(shard);
  }

  @Override
  public boolean revalidate(Set<Integer> shards) {
    return renewal.revalidate(shards);
  }

  @Override
  public Optional<TakeoverReport> observe(int shard, Duration heldFor) {
    return takeover.observe(shard, heldFor);
  }

  @Override
  public void forget(int shard) {
    takeover.forget(shard);
  }

  @Override
  public Optional<HandoverReport> failBackIfDue(int shard) {
    return failback.due(shard).map(home -> failback.failBack(shard, home));
  }
}
