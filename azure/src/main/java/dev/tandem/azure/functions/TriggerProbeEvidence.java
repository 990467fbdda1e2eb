package dev.tandem.azure.functions;

import dev.tandem.consumer.ownership.BrokerEvidence;
import dev.tandem.consumer.ownership.BrokerProbe;
import dev.tandem.consumer.ownership.ProbeAbortedException;
import dev.tandem.core.TandemClock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What the heartbeat's trigger probes found, kept for the region's health (issue 21): each probe of a
 * trigger's broker (a Kafka trigger's cluster, a Service Bus namespace) is wrapped so that every
 * answer and every failure is recorded in a {@link BrokerEvidence} — the evidence a Kafka poll loop
 * records for its own broker, read with the same rule ({@link BrokerEvidence#recent}) and the same
 * bound ({@code max(2 × heartbeat interval, 2 s, revalidateAfter)}, as {@code OwnerLiveness}). The
 * region's {@code health()} reads it through {@code TandemRegion.registerBrokerEvidence}, so a
 * Functions region whose trigger broker stopped answering reports DOWN, as its silent heartbeat
 * lets the peer take its shards over.
 *
 * <p>Recording only: the wrapped probe answers exactly as the original (name, result, exception).
 */
final class TriggerProbeEvidence {

  private static final Duration MIN_BOUND = Duration.ofSeconds(2);

  private final TandemClock clock;
  private final long boundNanos;
  private final Map<String, BrokerEvidence> evidence = new LinkedHashMap<>();

  /**
   * @param heartbeatInterval the heartbeat timer's period
   * @param revalidateAfter the ownership's {@code revalidateAfter}
   */
  TriggerProbeEvidence(TandemClock clock, Duration heartbeatInterval, Duration revalidateAfter) {
    this.clock = clock;
    Duration bound = heartbeatInterval.multipliedBy(2);
    bound = bound.compareTo(MIN_BOUND) < 0 ? MIN_BOUND : bound;
    bound = bound.compareTo(revalidateAfter) < 0 ? revalidateAfter : bound;
    this.boundNanos = bound.toNanos();
  }

  /** The probes, each wrapped to record its answers here (same names, same results). */
  List<BrokerProbe> recording(List<BrokerProbe> probes) {
    List<BrokerProbe> wrapped = new ArrayList<>();
    for (BrokerProbe p : probes) {
      BrokerEvidence e = new BrokerEvidence();
      evidence.put(p.name(), e);
      wrapped.add(BrokerProbe.of(p.name(), timeout -> ask(p, e, timeout)));
    }
    return List.copyOf(wrapped);
  }

  private boolean ask(BrokerProbe probe, BrokerEvidence e, Duration timeout) {
    long sent = clock.nanoTime();
    boolean answered;
    try {
      answered = probe.answers(timeout);
    } catch (ProbeAbortedException aborted) {
      throw aborted; // the caller stopped the request: no evidence either way
    } catch (RuntimeException failed) {
      e.failed(clock.nanoTime());
      throw failed;
    }
    if (answered) {
      e.answered(sent);
    } else {
      e.failed(clock.nanoTime());
    }
    return answered;
  }

  /** The probe names, in the order given. */
  List<String> names() {
    return List.copyOf(evidence.keySet());
  }

  /**
   * What the evidence of probe {@code name} says now: true (answered within the bound), false (failed
   * after its last answer, within the bound), empty (no evidence that recent: e.g. this region owns
   * no shard, so its heartbeat asks no probe — the same as a poll loop's).
   */
  Optional<Boolean> recent(String name) {
    return evidence.get(name).recent(clock.nanoTime(), boundNanos);
  }
}
