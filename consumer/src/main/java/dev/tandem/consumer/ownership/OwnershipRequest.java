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
 * moved, or its result already written, and does nothing); an owner works on it for at most {@code
 * timeoutMillis} measured on its own monotonic clock from reading it (a request without one, written
 * by an older client, ends at {@code deadlineMillis}, the issuer's wall clock), so an issuer whose
 * wall clock is off neither shortens nor lengthens the owner's window; a process whose region's lease
 * of a shard does not name {@code from} ignores that shard (logged).
 *
 * <p>Encoded as the text of a {@link Properties} file (readable with {@code kafka-console-consumer}),
 * record key {@code request|<id>}. Wire format, decodable both ways between versions:
 *
 * <ul>
 *   <li>{@code version}: absent = 1; this class writes {@value #VERSION}. Keys are only ever added,
 *       never renamed, removed or given a new meaning (a change of meaning needs a new {@code kind});
 *       a reader ignores keys it does not know (Properties), so any version decodes any other's
 *       request with the keys it knows.
 *   <li>version 1 keys: {@code kind=request, id, from, to, shards} (comma separated), {@code
 *       deadline.ms} (issuer's wall clock at issue + time-out, epoch millis), {@code issued.by},
 *       {@code evacuation} (optional, default false). Always written: a version-1 owner reads a
 *       version-2 request as the wall-clock request it knows.
 *   <li>version 2 adds {@code timeout.ms} (&gt; 0): how long an owner may work on the request,
 *       measured on its monotonic clock from reading it. An owner of version 2 reading a request
 *       without it (version 1) falls back to {@code deadline.ms}. {@code deadline.ms} still bounds a
 *       version-2 request that an owner reads from the backlog of its reader (written before it
 *       opened, e.g. after a restart): its age cannot be measured otherwise, and a stale request
 *       must not come alive again.
 * </ul>
 *
 * @param id unique id (a UUID); the key of idempotency
 * @param from the region whose shards are to move (the owner when the request was made)
 * @param to the destination region
 * @param shards the shards to move (non-empty)
 * @param deadlineMillis the issuer's wall-clock time (epoch millis) after which the request is void
 *     for an owner that cannot measure its age otherwise (version 1, or read from the backlog)
 * @param issuedBy who asked (host or tool name), for the operator's logs
 * @param evacuation an evacuation of {@code from} ({@link OwnershipAdmin#evacuate}): each handover
 *     marks the new lease {@link ShardOwnership#EVACUATED_FROM_ATTRIBUTE}, so automatic failback
 *     leaves the shard at {@code to} until a return moves it back; false for a return or a move
 * @param timeoutMillis the owner's window in millis, measured on its monotonic clock from reading
 *     the request; 0 = not carried (a version-1 request: {@code deadlineMillis} alone decides)
 */
public record OwnershipRequest(
    String id, RegionId from, RegionId to, SortedSet<Integer> shards, long deadlineMillis,
    String issuedBy, boolean evacuation, long timeoutMillis) {

  /** The version of the wire format this class writes (see the class comment for the rules). */
  public static final int VERSION = 2;

  /** A request that is not an evacuation (a return or a move), without a time-out (version 1). */
  public OwnershipRequest(String id, RegionId from, RegionId to, SortedSet<Integer> shards,
      long deadlineMillis, String issuedBy) {
    this(id, from, to, shards, deadlineMillis, issuedBy, false);
  }

  /** A request without a time-out: its wall-clock deadline alone ends it (version 1). */
  public OwnershipRequest(String id, RegionId from, RegionId to, SortedSet<Integer> shards,
      long deadlineMillis, String issuedBy, boolean evacuation) {
    this(id, from, to, shards, deadlineMillis, issuedBy, evacuation, 0);
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
    if (timeoutMillis < 0) {
      throw new IllegalArgumentException("timeoutMillis must be >= 0 (0 = none), got "
          + timeoutMillis);
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
    p.setProperty("version", Integer.toString(VERSION));
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
    if (timeoutMillis > 0) {
      p.setProperty("timeout.ms", Long.toString(timeoutMillis));
    }
    return OwnershipRecords.text(p);
  }

  /**
   * Decodes a request value.
   *
   * <p>Reads every version (see the class comment): keys of later versions are ignored, keys a
   * request of an earlier version lacks take their documented defaults.
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
        Boolean.parseBoolean(p.getProperty("evacuation", "false")),
        // absent in a version-1 request: its wall-clock deadline alone ends it
        Math.max(0, Long.parseLong(p.getProperty("timeout.ms", "0").trim())));
  }

}
