package dev.tandem.store;

/** Where a write a {@link StoreListener} is told about came from. */
public enum WriteOrigin {
  /** This store's own operation (claim, complete, release, ..., a local lease merge): replicate it. */
  LOCAL,
  /** A record or lease merged from the changelog (another replica's change): do not ship it again. */
  REMOTE
}
