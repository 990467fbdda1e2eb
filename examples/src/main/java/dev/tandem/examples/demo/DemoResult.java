package dev.tandem.examples.demo;

/**
 * What a demo run found, from the history checker and the library's own reports, and the verdict.
 *
 * @param published ids acknowledged to the publisher's caller
 * @param processed distinct ids whose handler ran at least once
 * @param lost published ids never handled
 * @param duplicates handler runs beyond the first, over all ids
 * @param bound the sum of the duplicate bounds the library reported at takeovers and operator moves
 *     (-1 when there was none, or when one of them was unknown)
 * @param detectedInA duplicates region A's store detected (ids with completers from two regions)
 * @param detectedInB the same, counted by region B's store: every replica must count each once
 * @param takeoverMillis from the fault to the first handler run of the new owner (-1 when none)
 * @param fault the fault injected
 * @param policy the takeover policy the regions ran
 */
public record DemoResult(
    long published,
    long processed,
    long lost,
    long duplicates,
    long bound,
    long detectedInA,
    long detectedInB,
    long takeoverMillis,
    DemoOptions.Fault fault,
    DemoOptions.Policy policy) {

  /** A result whose two replicas detected the same count, under AUTOMATIC. */
  public DemoResult(long published, long processed, long lost, long duplicates, long bound,
      long detected, long takeoverMillis, DemoOptions.Fault fault) {
    this(published, processed, lost, duplicates, bound, detected, detected, takeoverMillis, fault,
        DemoOptions.Policy.AUTOMATIC);
  }

  /**
   * The duplicates the store detected: the count both replicas agree on, or the larger one when
   * they disagree (then {@link #violation()} says so).
   */
  public long detected() {
    return Math.max(detectedInA, detectedInB);
  }

  /** The one machine-readable line the demo ends with. */
  public String resultLine() {
    return "RESULT published=" + published + " processed=" + processed + " lost=" + lost
        + " duplicates=" + duplicates + " bound=" + bound + " detected=" + detected()
        + " takeover_ms=" + takeoverMillis;
  }

  /** Why the run failed the promise, or {@code null} when it kept it. */
  public String violation() {
    if (lost > 0) {
      return lost + " message(s) lost";
    }
    switch (fault) {
      case NONE, HANDOVER -> {
        if (duplicates > 0) {
          return duplicates + " duplicate(s) without a crash";
        }
      }
      case CONSUMERS, BROKER -> {
        if (duplicates > Math.max(bound, 0)) {
          return duplicates + " duplicate(s) exceed the reported bound " + bound;
        }
      }
      case PARTITION -> {
        // every replica counts each cross-region duplicate once, whatever the policy
        if (detectedInA != detectedInB) {
          return "the regions' stores disagree on the detected duplicates: region-a "
              + detectedInA + ", region-b " + detectedInB;
        }
        return partitionViolation();
      }
    }
    return null;
  }

  /**
   * A partition under AUTOMATIC (availability first): every duplicate detected. Under WITNESS only
   * the witness holder processes: duplicates within the reported bound (0 without a takeover).
   * Under MANUAL the operator's moves either were acknowledged by the old owner (then within the
   * bound) or not (bound unknown: the old owner may have gone on processing, and every duplicate
   * must then be detected).
   */
  private String partitionViolation() {
    boolean bounded = policy == DemoOptions.Policy.WITNESS
        || (policy == DemoOptions.Policy.MANUAL && bound >= 0);
    if (bounded) {
      if (duplicates > Math.max(bound, 0)) {
        return duplicates + " duplicate(s) exceed the reported bound " + bound;
      }
    } else if (duplicates != detected()) {
      return duplicates + " duplicate(s) but the store detected " + detected();
    }
    return null;
  }

  /** 0 when the promise held, 1 otherwise. */
  public int exitCode() {
    return violation() == null ? 0 : 1;
  }
}
