package dev.tandem.store;

/**
 * The store's engine failed, or its directory is not a usable Tandem store (corrupt, foreign, or not a
 * store at all). Unchecked, as Kafka's and RocksDB's wrappers are. Messages name the directory; a
 * store is a replica, so a lost or corrupt directory can be deleted and restored from the changelog.
 */
public class StoreException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /** An exception with a message that names the store's directory. */
  public StoreException(String message) {
    super(message);
  }

  /** An exception with a message that names the store's directory, and the engine's cause. */
  public StoreException(String message, Throwable cause) {
    super(message, cause);
  }
}
