package dev.tandem.publisher;

/**
 * When {@link DualPublisher#publish} completes its future, counted in regions whose <em>broker</em>
 * acknowledged the copy.
 *
 * <p>Under every policy the caller is answered only when every copy is settled: on a broker, or
 * fsynced in the local spool (a copy that sits only in a producer buffer never counts). The policies
 * differ in how many broker acknowledgements they demand on top of that:
 *
 * <ul>
 *   <li>{@link #ALL}: every region acknowledged. A region that failed or timed out fails the publish
 *       with a {@link PublishException} naming it; its copy is still spooled and replayed later, so
 *       it is not lost, and re-publishing with the same id is safe (consumers skip the duplicate).
 *   <li>{@link #ANY}: at least one region acknowledged, every other copy on a broker or spooled.
 *   <li>{@link #QUORUM}: a majority ({@code n / 2 + 1}) of the regions acknowledged, the rest spooled.
 * </ul>
 */
public enum AckPolicy {
  ALL,
  ANY,
  QUORUM;

  /** The number of broker acknowledgements this policy needs among {@code regions} regions. */
  public int required(int regions) {
    if (regions <= 0) {
      throw new IllegalArgumentException("need at least one region, got " + regions);
    }
    return switch (this) {
      case ALL -> regions;
      case ANY -> 1;
      case QUORUM -> regions / 2 + 1;
    };
  }
}
