package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import java.util.Objects;
import java.util.Optional;

/**
 * A shard given up while some of its changes were not yet acknowledged by the own region's changelog
 * (a rebalance while the own changelog lane is slow or drains its spool). Names the writer ({@code
 * region}, {@code incarnation}) and a {@code mark}; once every change that writer made to the shard is
 * acknowledged by its region's changelog, it writes a hand-off marker with this mark into the shard's
 * partition, after them. A replica that has read that marker ({@link ReplicationLog#handedOff}) has
 * applied everything the previous holder wrote for the shard, so the next holder waits for it before
 * it claims anything (instead of assuming an empty past and running the handler again).
 *
 * <p>The token travels from the previous holder to the next one in the consumer group's committed
 * offset metadata ({@link #encode()} / {@link #decode(String)}).
 */
public record Handoff(RegionId region, String incarnation, int shard, long mark) {

  private static final String PREFIX = "tandem-handoff/1|";

  public Handoff {
    Objects.requireNonNull(region, "region");
    Objects.requireNonNull(incarnation, "incarnation");
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
    if (incarnation.indexOf('|') >= 0) {
      throw new IllegalArgumentException("incarnation must not contain '|': " + incarnation);
    }
  }

  /** The text form (for offset commit metadata). */
  public String encode() {
    return PREFIX + region.name() + "|" + incarnation + "|" + shard + "|" + mark;
  }

  /** The token in {@code metadata}, or empty when it holds none (or something else). */
  public static Optional<Handoff> decode(String metadata) {
    if (metadata == null || !metadata.startsWith(PREFIX)) {
      return Optional.empty();
    }
    String[] f = metadata.substring(PREFIX.length()).split("\\|", -1);
    if (f.length != 4) {
      return Optional.empty();
    }
    try {
      return Optional.of(new Handoff(RegionId.of(f[0]), f[1], Integer.parseInt(f[2]),
          Long.parseLong(f[3])));
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
  }
}
