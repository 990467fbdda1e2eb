package dev.tandem.consumer.ownership;

import dev.tandem.core.RegionId;
import java.util.Collections;
import java.util.Objects;
import java.util.Properties;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * A remote ownership request ({@code docs/design.md#remote-ownership-requests}): the processes of
 * region {@code from} that run {@code shards} hand each of them over to {@code to} by planned
 * handover ({@link ShardOwnership#handOver}) and answer each with an {@link OwnershipResult}.
 *
 * <p>Rules: an id is acted on at most once per shard (a re-delivered request finds the shard's lease
 * moved, or its result already written, and does nothing); nothing is done at or after {@code
 * deadlineMillis} (wall clock of the issuer; the handover itself ends by it too); a process whose
 * region's lease of a shard does not name {@code from} ignores that shard (logged).
 *
 * <p>Encoded as the text of a {@link Properties} file (readable with {@code kafka-console-consumer}),
 * record key {@code request|<id>}.
 *
 * @param id unique id (a UUID); the key of idempotency
 * @param from the region whose shards are to move (the owner when the request was made)
 * @param to the destination region
 * @param shards the shards to move (non-empty)
 * @param deadlineMillis wall-clock time (epoch millis) after which the request is void
 * @param issuedBy who asked (host or tool name), for the operator's logs
 * @param evacuation an evacuation of {@code from} ({@link OwnershipAdmin#evacuate}): each handover
 *     marks the new lease {@link ShardOwnership#EVACUATED_FROM_ATTRIBUTE}, so automatic failback
 *     leaves the shard at {@code to} until a return moves it back; false for a return or a move
 */
public record OwnershipRequest(
    String id, RegionId from, RegionId to, SortedSet<Integer> shards, long deadlineMillis,
    String issuedBy, boolean evacuation) {

  /** A request that is not an evacuation (a return or a move). */
  public OwnershipRequest(String id, RegionId from, RegionId to, SortedSet<Integer> shards,
      long deadlineMillis, String issuedBy) {
    this(id, from, to, shards, deadlineMillis, issuedBy, false);
  }

  /** An evacuation request of {@code from}: failback leaves its shards away until a return. */
  public static OwnershipRequest evacuation(String id, RegionId from, RegionId to,
      SortedSet<Integer> shards, long deadlineMillis, String issuedBy) {
    return new OwnershipRequest(id, from, to, shards, deadlineMillis, issuedBy, true);
  }

  static final String KIND = "request";

  /** Validates and copies the shard set (sorted, unmodifiable). */
  public OwnershipRequest {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(from, "from");
    Objects.requireNonNull(to, "to");
    Objects.requireNonNull(issuedBy, "issuedBy");
    if (id.isBlank() || id.contains("|")) {
      throw new IllegalArgumentException("request id must be non-blank without '|', got " + id);
    }
    if (from.equals(to)) {
      throw new IllegalArgumentException("a request moves shards between two regions, got " + from
          + " to itself");
    }
    if (shards == null || shards.isEmpty()) {
      throw new IllegalArgumentException("a request names at least one shard");
    }
    shards = Collections.unmodifiableSortedSet(new TreeSet<>(shards));
  }

  /** The record key: {@code request|<id>}. */
  public String key() {
    return KIND + "|" + id;
  }

  /** The record value (Properties text). */
  public String encode() {
    Properties p = new Properties();
    p.setProperty("kind", KIND);
    p.setProperty("id", id);
    p.setProperty("from", from.name());
    p.setProperty("to", to.name());
    StringBuilder s = new StringBuilder();
    for (int shard : shards) {
      s.append(s.length() == 0 ? "" : ",").append(shard);
    }
    p.setProperty("shards", s.toString());
    p.setProperty("deadline.ms", Long.toString(deadlineMillis));
    p.setProperty("issued.by", issuedBy);
    if (evacuation) {
      p.setProperty("evacuation", "true");
    }
    return OwnershipRecords.text(p);
  }

  /**
   * Decodes a request value.
   *
   * @throws IllegalArgumentException when it is not a request this version can read
   */
  public static OwnershipRequest decode(String value) {
    Properties p = OwnershipRecords.props(value);
    if (!KIND.equals(p.getProperty("kind"))) {
      throw new IllegalArgumentException("not an ownership request: kind=" + p.getProperty("kind"));
    }
    SortedSet<Integer> shards = new TreeSet<>();
    for (String s : OwnershipRecords.required(p, "shards").split(",")) {
      shards.add(Integer.parseInt(s.trim()));
    }
    return new OwnershipRequest(OwnershipRecords.required(p, "id"),
        RegionId.of(OwnershipRecords.required(p, "from")), RegionId.of(OwnershipRecords.required(p, "to")),
        shards, Long.parseLong(OwnershipRecords.required(p, "deadline.ms")),
        p.getProperty("issued.by", "unknown"),
        // absent in a request of an older writer: not an evacuation
        Boolean.parseBoolean(p.getProperty("evacuation", "false")));
  }

}
