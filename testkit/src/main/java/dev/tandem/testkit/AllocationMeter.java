package dev.tandem.testkit;

import java.lang.management.ManagementFactory;

/**
 * Memory figures that the load on the machine does not move, unlike timings (issue 20): the bytes
 * the calling thread allocated, for the tests that count what an operation allocates, and the heap
 * in use after full collections, for the footprint figures (a test's and the benchmarks'
 * {@code FootprintMain}).
 */
public final class AllocationMeter {

  private AllocationMeter() {}

  /**
   * The bytes the current thread has allocated so far
   * ({@link com.sun.management.ThreadMXBean#getCurrentThreadAllocatedBytes()}): read it before and
   * after N operations on the same thread, after a warm-up.
   */
  public static long allocated() {
    return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean())
        .getCurrentThreadAllocatedBytes();
  }

  /** The used heap after up to five full collections, until the figure stops falling. */
  public static long usedHeapAfterGc() {
    var memory = ManagementFactory.getMemoryMXBean();
    long used = Long.MAX_VALUE;
    // a few full collections until the figure stops falling (finalizable and soft objects)
    for (int i = 0; i < 5; i++) {
      System.gc();
      long now = memory.getHeapMemoryUsage().getUsed();
      if (now >= used) {
        break;
      }
      used = now;
    }
    return used;
  }
}
