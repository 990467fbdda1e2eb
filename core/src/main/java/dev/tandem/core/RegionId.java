package dev.tandem.core;

import java.util.concurrent.ConcurrentHashMap;

/**
 * The name of a region, e.g. {@code westeurope} or {@code region-a}: 1–32 characters of lower-case
 * letters, digits and '-'. It appears in metric tags, changelog keys and lease records.
 */
public record RegionId(String name) implements Comparable<RegionId> {

  /**
   * The region ids met so far, by name: a deployment has a handful of regions, but every decoded
   * changelog record names one or two (owner, completers), and {@link #of} runs per record on the
   * replication reader (issue 20). Bounded: names past {@value #CACHED_MAX} are validated each time
   * and not kept, so garbage input cannot grow it.
   */
  private static final ConcurrentHashMap<String, RegionId> CACHE = new ConcurrentHashMap<>();

  private static final int CACHED_MAX = 64;

  public RegionId {
    if (!valid(name)) {
      throw new IllegalArgumentException(
          "a region id is 1-32 characters of [a-z0-9-], starting with a letter or digit; got '"
              + name + "'");
    }
  }

  /**
   * The region id named {@code name}; the same instance for the same name (validated once).
   *
   * @throws IllegalArgumentException if {@code name} is not a valid region id
   */
  public static RegionId of(String name) {
    RegionId known = name == null ? null : CACHE.get(name);
    if (known != null) {
      return known;
    }
    RegionId created = new RegionId(name);
    if (CACHE.size() < CACHED_MAX) {
      RegionId raced = CACHE.putIfAbsent(name, created);
      return raced == null ? created : raced;
    }
    return created;
  }

  /** {@code [a-z0-9][a-z0-9-]{0,31}}, without a regex (this runs per decoded changelog record). */
  private static boolean valid(String name) {
    if (name == null || name.isEmpty() || name.length() > 32) {
      return false;
    }
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      boolean ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && c == '-');
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  @Override
  public int compareTo(RegionId o) {
    return name.compareTo(o.name);
  }

  @Override
  public String toString() {
    return name;
  }
}
