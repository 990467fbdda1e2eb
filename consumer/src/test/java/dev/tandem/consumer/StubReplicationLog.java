package dev.tandem.consumer;

import dev.tandem.core.RegionId;
import dev.tandem.store.replication.CatchUpResult;
import dev.tandem.store.replication.ReplicationLag;
import dev.tandem.store.replication.ReplicationLog;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * The base of a test's scripted {@link ReplicationLog} (test scope): every shard restored, every
 * barrier acknowledged at once, nothing unacknowledged, the peer reachable, no markers. A test
 * overrides only what it scripts (a held barrier, a hand-off marker, a lag); catch-up and lag throw
 * until overridden, so a test that reaches them unexpectedly fails loudly. Shared by the tests
 * that need a log whose acknowledgements they control ({@code HandoffGateTest}, {@code
 * RebalanceHandlerTest}, {@code
 * OwnershipRequestsTest}); {@code InMemoryReplicationLog} models a network of stores instead.
 */
public abstract class StubReplicationLog implements ReplicationLog {

  private final Set<Integer> shards;

  /** A log of {@code shards} (what {@link #shards()} answers). */
  protected StubReplicationLog(Set<Integer> shards) {
    this.shards = Set.copyOf(shards);
  }

  @Override
  public void assign(Set<Integer> shards) {}

  @Override
  public void revoke(Set<Integer> shards) {}

  @Override
  public boolean awaitRestored(Duration timeout) {
    return true;
  }

  @Override
  public boolean isRestored(int shard) {
    return true;
  }

  @Override
  public CompletableFuture<Void> barrier(int shard, RegionId region) {
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public long unackedByPeers(int shard) {
    return 0;
  }

  @Override
  public boolean peerReachable() {
    return true;
  }

  @Override
  public CatchUpResult catchUp(RegionId region, Set<Integer> shards, Duration timeout) {
    throw new UnsupportedOperationException("catchUp is not scripted by this test");
  }

  @Override
  public ReplicationLag lag(RegionId origin) {
    throw new UnsupportedOperationException("lag is not scripted by this test");
  }

  @Override
  public Set<Integer> shards() {
    return shards;
  }

  @Override
  public void close() {}
}
