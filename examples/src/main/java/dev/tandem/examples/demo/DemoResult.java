package dev.tandem.examples.demo;

/**
 * What a demo run found, from the history checker and the library's own reports, and the verdict.
 *
 * @param published ids acknowledged to the publisher's caller
 * @param processed distinct ids whose handler ran at least once
 * @param lost published ids never handled
 * @param duplicates handler runs beyond the first, over all ids
 * @param bound the duplicate bound the library reported at takeover (-1 when unknown or none)
 * @param detected duplicates the store itself detected (completers from two regions)
 * @param takeoverMillis from the fault to the first handler run of the new owner (-1 when none)
 */
public record DemoResult(
    long published,
    long processed,
    long lost,
    long duplicates,
    long bound,
    long detected,
    long takeoverMillis,
    DemoOptions.Fault fault) {

  /** The one machine-readable line the demo ends with. */
  public String resultLine() {
    return "RESULT published=" + published + " processed=" + processed + " lost=" + lost
        + " duplicates=" + duplicates + " bound=" + bound + " detected=" + detected
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
        if (duplicates != detected) {
          return duplicates + " duplicate(s) but the store detected " + detected;
        }
      }
    }
    return null;
  }

  /** 0 when the promise held, 1 otherwise. */
  public int exitCode() {
    return violation() == null ? 0 : 1;
  }
}
