package dev.tandem.store.replication;

/**
 * A barrier of a shard failed because a change of that shard was not shipped to the changelog: a
 * region rejected its copy (too large), or it was written while the replication log was closing.
 * Every barrier of the shard fails with it until the change is shipped (a rejected copy is retried
 * slowly, so a fixed broker limit heals it), so an offset committed behind a barrier never passes
 * a change the changelog does not hold.
 */
public final class UnshippedChangeException extends IllegalStateException {

  private static final long serialVersionUID = 1L;

  private final int shard;

  UnshippedChangeException(int shard, String change, Throwable cause) {
    super("a change of shard " + shard + " (" + change + ") is not in the changelog: "
        + (cause == null ? "not shipped" : cause.getMessage()), cause);
    this.shard = shard;
  }

  /** The shard whose barriers fail. */
  public int shard() {
    return shard;
  }
}
