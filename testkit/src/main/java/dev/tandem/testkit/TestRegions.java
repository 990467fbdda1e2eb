package dev.tandem.testkit;

import dev.tandem.core.RegionId;

/**
 * The region ids of {@link TwoRegions#start()}: {@code region-a} and
 * {@code region-b}, written once for every test.
 */
public final class TestRegions {

  /** {@code region-a}, the region of {@code TwoRegions.a()}. */
  public static final RegionId A = RegionId.of("region-a");
  /** {@code region-b}, the region of {@code TwoRegions.b()}. */
  public static final RegionId B = RegionId.of("region-b");

  private TestRegions() {}
}
