package dev.tandem.store;

/**
 * Bytes handed to {@link RecordCodec} are not a record or lease this version can read: wrong version
 * byte, bad checksum, truncated, or fields out of range. Never answered with a half-read record.
 */
public final class CorruptRecordException extends StoreException {

  private static final long serialVersionUID = 1L;

  /** An exception saying what is wrong with the bytes. */
  public CorruptRecordException(String message) {
    super(message);
  }

  /** An exception saying what is wrong with the bytes, with the low-level cause. */
  public CorruptRecordException(String message, Throwable cause) {
    super(message, cause);
  }
}
