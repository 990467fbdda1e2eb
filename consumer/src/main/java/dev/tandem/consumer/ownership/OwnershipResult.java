package dev.tandem.consumer.ownership;

import dev.tandem.core.RegionId;
import java.util.Objects;
import java.util.Properties;

/**
 * The answer of an owning process to one shard of an {@link OwnershipRequest}: written to the same
 * request topic after its planned handover ({@link ShardOwnership#handOver}) moved the shard or
 * failed. Record key {@code result|<request id>|<shard>}; value the text of a {@link Properties}
 * file.
 *
 * @param requestId the request answered
 * @param shard the shard
 * @param from the region that owned it (the answering process's)
 * @param to the destination
 * @param moved whether the lease moved (epoch + 1, zero duplicates); false: it stays with {@code from}
 * @param newEpoch the lease's epoch after the handover (unchanged when not moved)
 * @param tookMillis how long the handover took in the owning process
 * @param instance the answering instance ({@code tandem.instance})
 * @param detail the handover's own summary or reason
 */
public record OwnershipResult(
    String requestId, int shard, RegionId from, RegionId to, boolean moved, long newEpoch,
    long tookMillis, String instance, String detail) {

  static final String KIND = "result";

  public OwnershipResult {
    Objects.requireNonNull(requestId, "requestId");
    Objects.requireNonNull(from, "from");
    Objects.requireNonNull(to, "to");
    Objects.requireNonNull(instance, "instance");
    Objects.requireNonNull(detail, "detail");
  }

  /** The result of {@code request} for a {@link HandoverReport} made by {@code instance}. */
  static OwnershipResult of(OwnershipRequest request, HandoverReport r, String instance) {
    return new OwnershipResult(request.id(), r.shard(), r.from(), r.to(), r.moved(), r.newEpoch(),
        r.took().toMillis(), instance, r.detail());
  }

  /** The record key: {@code result|<request id>|<shard>}. */
  public String key() {
    return KIND + "|" + requestId + "|" + shard;
  }

  /** The record value (Properties text). */
  public String encode() {
    Properties p = new Properties();
    p.setProperty("kind", KIND);
    p.setProperty("request.id", requestId);
    p.setProperty("shard", Integer.toString(shard));
    p.setProperty("from", from.name());
    p.setProperty("to", to.name());
    p.setProperty("moved", Boolean.toString(moved));
    p.setProperty("new.epoch", Long.toString(newEpoch));
    p.setProperty("took.ms", Long.toString(tookMillis));
    p.setProperty("instance", instance);
    p.setProperty("detail", detail);
    return OwnershipRecords.text(p);
  }

  /**
   * Decodes a result value.
   *
   * @throws IllegalArgumentException when it is not a result this version can read
   */
  public static OwnershipResult decode(String value) {
    Properties p = OwnershipRecords.props(value);
    if (!KIND.equals(p.getProperty("kind"))) {
      throw new IllegalArgumentException("not an ownership result: kind=" + p.getProperty("kind"));
    }
    return new OwnershipResult(OwnershipRecords.required(p, "request.id"), Integer.parseInt(OwnershipRecords.required(p, "shard")),
        RegionId.of(OwnershipRecords.required(p, "from")), RegionId.of(OwnershipRecords.required(p, "to")),
        Boolean.parseBoolean(OwnershipRecords.required(p, "moved")), Long.parseLong(OwnershipRecords.required(p, "new.epoch")),
        Long.parseLong(OwnershipRecords.required(p, "took.ms")), p.getProperty("instance", "unknown"),
        p.getProperty("detail", ""));
  }

}
