package dev.tandem.consumer.ownership;

import dev.tandem.core.TandemClock;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** How the issuing client ({@link OwnershipAdmin}) waits for the results of its request. */
final class OwnershipResultWait {

  private static final Logger log = LoggerFactory.getLogger(OwnershipAdmin.class);

  private OwnershipResultWait() {}

  /**
   * Hands each result of request {@code requestId} for a shard of {@code shards} to {@code
   * onResult} (once per shard) until every shard has one or {@code clock}'s monotonic time reaches
   * {@code deadlineNanos}. Never reads the wall clock: a step of it neither ends the wait early nor
   * makes it longer. A channel whose reader failed is logged once and waited out (the owners may
   * still act before the deadline; the caller then reads the leases).
   */
  static void awaitResults(OwnershipRequestChannel channel, String requestId, Set<Integer> shards,
      long deadlineNanos, TandemClock clock, Consumer<OwnershipResult> onResult) {
    Set<Integer> seen = new TreeSet<>();
    boolean failureLogged = false;
    while (true) {
      for (Object o : channel.poll()) {
        if (o instanceof OwnershipResult r && r.requestId().equals(requestId)
            && shards.contains(r.shard()) && seen.add(r.shard())) {
          onResult.accept(r);
        }
      }
      if (!failureLogged && channel.failure().isPresent()) {
        failureLogged = true;
        log.error("Tandem ownership request {}: this client cannot read the results ({}); it waits"
            + " for the deadline and then reads the leases", requestId,
            channel.failure().get().toString());
      }
      if (seen.size() == shards.size() || clock.nanoTime() - deadlineNanos >= 0) {
        return;
      }
      try {
        Thread.sleep(10); // the channel reads on its own thread; this only paces the look
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

}
