package dev.tandem.store.replication;

import dev.tandem.core.PayloadDigest;
import dev.tandem.store.ClaimRequest;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.CompleteRequest;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Owner;
import dev.tandem.store.ShardLease;
import dev.tandem.store.StoreListener;
import dev.tandem.store.StoreStats;
import dev.tandem.store.spi.ReplicaStore;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * The restore gate: an {@link IdempotencyStore} that answers a call for a shard only once this
 * replica has restored that shard from the changelog ({@link ReplicationLog#isRestored}). A call for a
 * shard still restoring waits up to {@code restoreWait}, then throws {@link ShardNotReadyException}
 * ({@code RESTORING}); a shard not materialised here fails at once ({@code NOT_ASSIGNED}). So a claim
 * never reads a half-restored shard (the bug of caches that say "ready" before reading their log).
 *
 * <p>Gated: every call that names a shard (claim, complete, release, deadLetter, redrive, renew, get,
 * isTerminal, the batch calls, lease, mergeLease, forEach(shard)). Not gated: whole-store views
 * ({@code forEach(action)}, {@code leases()}, stats) and the replica SPI ({@link ReplicaStore}:
 * applyRemote*, checkpoints, dropShard), which the replication log itself uses. Obtain it from {@link
 * KafkaReplicationLog#replicatedStore()}. {@link #close()} closes the log, then the store.
 */
public final class ReplicatedStore implements ReplicaStore {

  /** The replica view: replication merges remote changes and drops shards through the SPI. */
  private final ReplicaStore store;
  private final KafkaReplicationLog log;
  private final Duration restoreWait;

  ReplicatedStore(IdempotencyStore store, KafkaReplicationLog log, Duration restoreWait) {
    this.store = ReplicaStore.of(store);
    this.log = log;
    this.restoreWait = restoreWait;
  }

  /** The replication log behind the gate. */
  public ReplicationLog replicationLog() {
    return log;
  }

  /** The ungated local store (for tests and tools; bypasses restore-before-serve). */
  public IdempotencyStore unwrap() {
    return store;
  }

  /** Returns when {@code shard} is restored here; otherwise throws {@link ShardNotReadyException}. */
  void gate(int shard) {
    CompletableFuture<Void> f = log.restoredFuture(shard);
    if (f == null) {
      throw new ShardNotReadyException(shard, ShardNotReadyException.Reason.NOT_ASSIGNED,
          Duration.ZERO);
    }
    if (f.isDone() && !f.isCompletedExceptionally()) {
      return;
    }
    try {
      f.get(restoreWait.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      throw new ShardNotReadyException(shard, ShardNotReadyException.Reason.RESTORING, restoreWait);
    } catch (ExecutionException e) {
      ShardNotReadyException.Reason reason =
          e.getCause() instanceof ShardNotReadyException s
              ? s.reason()
              : ShardNotReadyException.Reason.CLOSED;
      throw new ShardNotReadyException(shard, reason, Duration.ZERO);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ShardNotReadyException(shard, ShardNotReadyException.Reason.RESTORING,
          Duration.ZERO);
    }
  }

  @Override
  public Owner owner() {
    return store.owner();
  }

  @Override
  public Duration ttl() {
    return store.ttl();
  }

  @Override
  public int maxAttempts() {
    return store.maxAttempts();
  }

  @Override
  public int maxResultBytes() {
    return store.maxResultBytes();
  }

  @Override
  public ClaimResult claim(String id, int shard, PayloadDigest digest, long epoch, Duration lease) {
    gate(shard);
    return store.claim(id, shard, digest, epoch, lease);
  }

  @Override
  public List<ClaimResult> claimAll(List<ClaimRequest> requests) {
    TreeSet<Integer> shards = new TreeSet<>();
    requests.forEach(r -> shards.add(r.shard()));
    shards.forEach(this::gate);
    return store.claimAll(requests);
  }

  @Override
  public IdRecord complete(String id, int shard, byte[] result) {
    gate(shard);
    return store.complete(id, shard, result);
  }

  @Override
  public List<IdRecord> completeAll(List<CompleteRequest> requests) {
    TreeSet<Integer> shards = new TreeSet<>();
    requests.forEach(r -> shards.add(r.shard()));
    shards.forEach(this::gate);
    return store.completeAll(requests);
  }

  @Override
  public IdRecord release(String id, int shard) {
    gate(shard);
    return store.release(id, shard);
  }

  @Override
  public IdRecord deadLetter(String id, int shard, String reason) {
    gate(shard);
    return store.deadLetter(id, shard, reason);
  }

  @Override
  public IdRecord redrive(String id, int shard) {
    gate(shard);
    return store.redrive(id, shard);
  }

  @Override
  public IdRecord renew(String id, int shard, Duration lease) {
    gate(shard);
    return store.renew(id, shard, lease);
  }

  @Override
  public Optional<IdRecord> get(String id, int shard) {
    gate(shard);
    return store.get(id, shard);
  }

  @Override
  public boolean isTerminal(String id, int shard) {
    gate(shard);
    return store.isTerminal(id, shard);
  }

  @Override
  public IdRecord applyRemote(IdRecord remote) {
    return store.applyRemote(remote);
  }

  @Override
  public void applyRemoteBatch(
      List<IdRecord> records, List<ShardLease> leases, Map<String, Long> checkpoints) {
    store.applyRemoteBatch(records, leases, checkpoints);
  }

  @Override
  public Map<String, Long> checkpoints() {
    return store.checkpoints();
  }

  @Override
  public Optional<ShardLease> lease(int shard) {
    gate(shard);
    return store.lease(shard);
  }

  @Override
  public List<ShardLease> leases() {
    return store.leases();
  }

  @Override
  public ShardLease mergeLease(ShardLease lease) {
    gate(lease.shard());
    return store.mergeLease(lease);
  }

  @Override
  public ShardLease applyRemoteLease(ShardLease lease) {
    return store.applyRemoteLease(lease);
  }

  @Override
  public long tickHlc() {
    return store.tickHlc();
  }

  @Override
  public void dropShard(int shard, Collection<String> checkpointKeys) {
    store.dropShard(shard, checkpointKeys);
  }

  @Override
  public void forEach(int shard, Consumer<IdRecord> action) {
    gate(shard);
    store.forEach(shard, action);
  }

  @Override
  public void forEach(Consumer<IdRecord> action) {
    store.forEach(action);
  }

  @Override
  public void addListener(StoreListener listener) {
    store.addListener(listener);
  }

  @Override
  public void removeListener(StoreListener listener) {
    store.removeListener(listener);
  }

  @Override
  public long detectedDuplicates() {
    return store.detectedDuplicates();
  }

  @Override
  public StoreStats stats() {
    return store.stats();
  }

  /** Closes the replication log, then the store. */
  @Override
  public void close() {
    try {
      log.close();
    } finally {
      store.close();
    }
  }
}
