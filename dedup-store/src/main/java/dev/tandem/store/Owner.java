package dev.tandem.store;

import dev.tandem.core.RegionId;
import java.util.Comparator;
import java.util.Objects;

/**
 * Who claimed or completed a record: a region and one instance (process) in it. The instance name is
 * chosen by the application (a pod name, a host name); it should be stable for a process's lifetime.
 *
 * <p>Ordered by region, then instance: the last tie-breaker of the record lattice.
 */
public record Owner(RegionId region, String instance) implements Comparable<Owner> {

  /** Longest instance name, in characters (it is stored in every record and changelog key). */
  public static final int MAX_INSTANCE_LENGTH = 128;

  private static final Comparator<Owner> ORDER =
      Comparator.comparing(Owner::region).thenComparing(Owner::instance);

  /** Validates the instance name: 1-128 characters, no control characters. */
  public Owner {
    Objects.requireNonNull(region, "region");
    instance = validateInstance(instance);
  }

  /** Shorthand for {@code new Owner(RegionId.of(region), instance)}. */
  public static Owner of(String region, String instance) {
    return new Owner(RegionId.of(region), instance);
  }

  static String validateInstance(String instance) {
    if (instance == null || instance.isEmpty() || instance.length() > MAX_INSTANCE_LENGTH) {
      throw new IllegalArgumentException(
          "an instance name is 1-" + MAX_INSTANCE_LENGTH + " characters; got "
              + (instance == null ? "null" : instance.length() + " characters"));
    }
    for (int i = 0; i < instance.length(); i++) {
      if (Character.isISOControl(instance.charAt(i))) {
        throw new IllegalArgumentException(
            "an instance name must not hold control characters (index " + i + ")");
      }
    }
    return instance;
  }

  @Override
  public int compareTo(Owner o) {
    return ORDER.compare(this, o);
  }

  @Override
  public String toString() {
    return region + "/" + instance;
  }
}
