package dev.tandem.azure.witness;

import dev.tandem.core.RegionId;
import java.util.HashMap;
import java.util.Map;

/**
 * What the witness records in a shard blob's metadata next to its lease: the region that last took the
 * lease and the shard epoch it took it for. Blob metadata names must be C# identifiers, hence no '-'.
 *
 * <p>The Blob service does not reveal a lease's id, so the holder named here is the last one recorded:
 * between another contender's acquire and its metadata write it can be one step behind (then a refusal
 * names no holder rather than a wrong one; see {@link BlobLeaseWitness}).
 *
 * @param holder the region that recorded itself, or {@code null} for a blob never leased by Tandem
 * @param epoch the recorded shard epoch, -1 when none
 */
record LeaseRecord(RegionId holder, long epoch) {

  static final String HOLDER_KEY = "tandemholder";
  static final String EPOCH_KEY = "tandemepoch";
  static final LeaseRecord NONE = new LeaseRecord(null, -1L);

  /**
   * Reads the record from blob metadata. Metadata Tandem did not write (or that someone edited into
   * nonsense) is reported, not ignored: an epoch we cannot read would silently disable fencing.
   */
  static LeaseRecord fromMetadata(Map<String, String> metadata, String blobName) {
    if (metadata == null) {
      return NONE;
    }
    String holder = metadata.get(HOLDER_KEY);
    String epoch = metadata.get(EPOCH_KEY);
    if (holder == null && epoch == null) {
      return NONE;
    }
    try {
      return new LeaseRecord(holder == null ? null : RegionId.of(holder),
          epoch == null ? -1L : Long.parseLong(epoch));
    } catch (IllegalArgumentException e) {
      throw new IllegalStateException("witness blob '" + blobName + "' carries unreadable Tandem metadata "
          + HOLDER_KEY + "=" + holder + ", " + EPOCH_KEY + "=" + epoch, e);
    }
  }

  /** The blob's metadata with this record written over Tandem's keys (other keys kept). */
  Map<String, String> toMetadata(Map<String, String> existing) {
    Map<String, String> metadata = existing == null ? new HashMap<>() : new HashMap<>(existing);
    metadata.put(HOLDER_KEY, holder.name());
    metadata.put(EPOCH_KEY, Long.toString(epoch));
    return metadata;
  }
}
