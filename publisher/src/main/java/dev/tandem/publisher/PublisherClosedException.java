package dev.tandem.publisher;

/**
 * The publisher closed while a spooled copy was still waiting for its replay: the copy's delivery
 * future ({@link PublishException#delivery}, {@link PublishResult#delivery}) completes exceptionally
 * with this exception. The copy is not lost: it stays in the spool, and a publisher opened on the same
 * spool directory replays it. An {@link IllegalStateException}, as before this type existed.
 */
public class PublisherClosedException extends IllegalStateException {

  private static final long serialVersionUID = 1L;

  public PublisherClosedException(String message) {
    super(message);
  }
}
