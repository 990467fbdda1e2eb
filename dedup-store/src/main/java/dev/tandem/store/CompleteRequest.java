package dev.tandem.store;

import dev.tandem.core.TandemIds;

/**
 * One completion of a {@link IdempotencyStore#completeAll batch}: the arguments of {@code complete}.
 *
 * @param result the small result to store with the record, or {@code null}
 */
public record CompleteRequest(String id, int shard, byte[] result) {

  /** Validates the id and shard (the result size is checked by the store). */
  public CompleteRequest {
    TandemIds.validate(id);
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
  }
}
