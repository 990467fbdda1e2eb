package dev.tandem.store;

import dev.tandem.core.RegionId;
import java.util.Comparator;
import java.util.Objects;

/**
 * One completion of an id: the region and instance that completed it, and the attempt it completed.
 * A record's completers are a grow-only set; completers from two regions mean the id was processed in
 * both — a detected cross-region duplicate.
 */
public record Completer(RegionId region, String instance, int attempt)
    implements Comparable<Completer> {

  private static final Comparator<Completer> ORDER =
      Comparator.comparing(Completer::region)
          .thenComparing(Completer::instance)
          .thenComparingInt(Completer::attempt);

  /** Validates the instance name and a non-negative attempt. */
  public Completer {
    Objects.requireNonNull(region, "region");
    instance = Owner.validateInstance(instance);
    if (attempt < 0) {
      throw new IllegalArgumentException("attempt must be >= 0, got " + attempt);
    }
  }

  /** The completer of {@code attempt} by {@code owner}. */
  public static Completer of(Owner owner, int attempt) {
    return new Completer(owner.region(), owner.instance(), attempt);
  }

  @Override
  public int compareTo(Completer o) {
    return ORDER.compare(this, o);
  }
}
