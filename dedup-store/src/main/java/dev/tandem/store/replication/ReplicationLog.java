package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;

/**
 * One replica's link to the changelogs ({@code docs/design.md#replication}). Every LOCAL write of
 * the store is
 * appended to every region's changelog; this replica reads its own region's changelog (which holds
 * every region's changes) and merges each record into the store with the lattice join, so order,
 * duplication and delay do not matter.
 *
 * <p>The Kafka implementation is {@link KafkaReplicationLog} (built with {@link
 * KafkaReplicationLog#builder()}). A replica must not serve claims for a shard before {@link
 * #isRestored(int)}: {@link ReplicatedStore} is the gate that enforces it.
 */
public interface ReplicationLog extends AutoCloseable {

  /**
   * Materialises {@code shards}: restores each from the own region's changelog (asynchronously, from
   * its checkpoint or the beginning up to the end offsets captured when its restore began), then keeps
   * applying new changes. Assigning an already assigned shard does nothing.
   */
  void assign(Set<Integer> shards);

  /**
   * Gives {@code shards} up: first waits until every pending changelog write of theirs is acknowledged
   * by the own region (so the next instance of this region sees them), then stops reading them and
   * drops their local state ({@code ReplicaStore.dropShard}). Blocks until done. A shard handed
   * off with {@link #handOff} before is not waited for (its marker follows its writes); for any other
   * shard whose writes are not acknowledged in time it throws {@link IllegalStateException}.
   */
  void revoke(Set<Integer> shards);

  /**
   * Like {@link #revoke(Set)}, but does not wait for the changelog writes of {@code unwaited} (a
   * subset of {@code shards} in which the caller claimed nothing since it got them, e.g. it was still
   * waiting for a previous holder's hand-off: only lease writes may be outstanding, and they are
   * still delivered after the shard is dropped here). The default revokes them like any other.
   */
  default void revoke(Set<Integer> shards, Set<Integer> unwaited) {
    revoke(shards);
  }

  /**
   * Called when {@code shard} is given up while some of its changes are not yet acknowledged by the
   * own region's changelog: once they are, a hand-off marker for the returned token is written into
   * the shard's changelog partition after them. Pass the token to the next holder (e.g. in the
   * committed offset's metadata); it waits for {@link #handedOff} before claiming in the shard.
   * Empty when this log writes no markers (the default).
   */
  default java.util.Optional<Handoff> handOff(int shard) {
    return java.util.Optional.empty();
  }

  /**
   * Whether this replica has read the hand-off marker of {@code token} from its own region's
   * changelog, i.e. applied every change the previous holder made to the shard before giving it up.
   * The default (a log that writes no markers) answers true.
   */
  default boolean handedOff(Handoff token) {
    return true;
  }

  /** Waits until every assigned shard is restored; false if {@code timeout} passed first. */
  boolean awaitRestored(Duration timeout);

  /** Whether {@code shard} is assigned and has been read up to its restore end offsets. */
  boolean isRestored(int shard);

  /**
   * Completes when every change written so far for {@code shard} is acknowledged by {@code region}'s
   * changelog broker (for a region that is down: after the publisher's spool replayed them). Completes
   * exceptionally if this log closes first; after it closed, every barrier fails. While a change of
   * {@code shard} is not in the changelog at all (a region rejected its copy, or it was written while
   * the log was closing), every barrier of the shard fails with {@link UnshippedChangeException}
   * until it is shipped, so an offset committed behind a barrier never passes it.
   */
  CompletableFuture<Void> barrier(int shard, RegionId region);

  /** Local changes of {@code shard} not yet acknowledged by the peer region(s) (the window W counts these). */
  long unackedByPeers(int shard);

  /** False while a peer region's circuit is open or its copies go to the publisher's spool. */
  boolean peerReachable();

  /**
   * Reads {@code region}'s changelog partitions of {@code shards} to their current end offsets and
   * applies them (used before a takeover). Bounded by {@code timeout}; when the region's brokers do
   * not answer it returns quickly with {@link CatchUpResult#complete()} false and the reason. For the
   * own region it waits until this replica's reader has reached the current end offsets.
   */
  CatchUpResult catchUp(RegionId region, Set<Integer> shards, Duration timeout);

  /**
   * Ties this replica's heartbeats to the liveness of what it serves: once any check is registered,
   * heartbeats are written only while at least one registered check says alive. A consumer registers
   * "my poll loop runs", so the peer region, which reads these heartbeats ({@link #lag}), can tell a
   * region whose consumers run from one whose process merely stays up (automatic failback waits for
   * the former). The default implementation ignores it.
   */
  default void addLivenessCheck(BooleanSupplier alive) {}

  /** Replication lag from {@code origin}'s heartbeats as seen by this replica. */
  ReplicationLag lag(RegionId origin);

  /** The shards this replica materialises now. */
  Set<Integer> shards();

  /** Stops reading and writing; pending writes stay with the publisher (and its spool). */
  @Override
  void close();
}
