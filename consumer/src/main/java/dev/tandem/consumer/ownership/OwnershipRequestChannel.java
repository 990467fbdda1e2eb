package dev.tandem.consumer.ownership;

import java.util.List;

/**
 * Where an owning region's processes read {@link OwnershipRequest}s and write {@link
 * OwnershipResult}s: {@link KafkaOwnershipChannel} (the topic {@code <prefix>.ownership} in the
 * region's own cluster) in production, an in-memory one in tests.
 */
public interface OwnershipRequestChannel extends AutoCloseable {

  /**
   * The records that arrived since the previous call, requests and results alike, in the order of
   * the topic; never blocks. A result read here tells this process that shard of that request was
   * answered (by it or another instance), so it is not acted on again.
   */
  List<Object> poll();

  /**
   * Whether this reader has read every record that was in the channel when it opened (a restarted
   * process must see the results written before it, e.g. a FAILED answer, before it acts on a
   * request: otherwise it could move a shard the client was already told stays). Default: true.
   */
  default boolean caughtUp() {
    return true;
  }

  /**
   * Why this channel stopped reading for good (for example not authorized to read its topic): from
   * then on no request or result arrives through {@link #poll()}. Empty while it reads. Default:
   * empty (an in-memory channel never fails).
   */
  default java.util.Optional<Throwable> failure() {
    return java.util.Optional.empty();
  }

  /**
   * Writes {@code result} and waits for its acknowledgement.
   *
   * @throws RuntimeException when it could not be written (the caller logs it; the admin client then
   *     reads the lease instead)
   */
  void answer(OwnershipResult result);

  /**
   * Writes {@code request} (the admin client's side) and waits for its acknowledgement.
   *
   * @return the request's position in the channel (results of it come after)
   * @throws RuntimeException when it could not be written
   */
  long request(OwnershipRequest request);

  @Override
  void close();
}
