package dev.tandem.core;

import java.util.regex.Pattern;

/**
 * The name of a region, e.g. {@code westeurope} or {@code region-a}: 1–32 characters of lower-case
 * letters, digits and '-'. It appears in metric tags, changelog keys and lease records.
 */
public record RegionId(String name) implements Comparable<RegionId> {

  private static final Pattern VALID = Pattern.compile("[a-z0-9][a-z0-9-]{0,31}");

  public RegionId {
    if (name == null || !VALID.matcher(name).matches()) {
      throw new IllegalArgumentException(
          "a region id is 1-32 characters of [a-z0-9-], starting with a letter or digit; got '"
              + name + "'");
    }
  }

  public static RegionId of(String name) {
    return new RegionId(name);
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
