package dev.tandem.consumer.witness;

import dev.tandem.core.RegionId;
import java.time.Duration;

/**
 * A third party, outside both regions, that decides which region may own a shard under the
 * {@code WITNESS} takeover policy: only the holder of the witness lease processes the shard, and a
 * follower takes over only after acquiring it. Implementations: a single-partition Kafka topic on a
 * third cluster, an Azure Blob lease in a third location (tandem-azure).
 *
 * <p>Timing rule: a grant is trusted by its holder only until {@link WitnessGrant#validUntilNanos()},
 * which the implementation computes from the caller's own monotonic clock, taken <em>before</em> the
 * request was sent, plus the lease duration minus a safety margin. So the holder stops before any other
 * contender can have been granted the lease, without comparing clocks across machines.
 */
public interface TakeoverWitness extends AutoCloseable {

  /**
   * Acquires the lease of {@code shard} for {@code candidate}, or renews it when {@code candidate}
   * already holds it. Returns promptly: a witness that does not answer within its timeout throws.
   *
   * @param epoch the shard epoch the candidate will own under this lease (recorded by the witness)
   * @return a granted lease, or a refusal naming the current holder where the witness knows it
   * @throws WitnessUnavailableException when the witness cannot be reached or answers with an error
   */
  WitnessGrant acquire(int shard, RegionId candidate, long epoch);

  /** Gives the lease of {@code shard} up if {@code holder} holds it (a planned handover); idempotent. */
  void release(int shard, RegionId holder);

  /** How long a grant lasts from the moment it was requested. */
  Duration leaseDuration();

  @Override
  void close();
}
