package dev.tandem.azure.functions;

import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.azure.servicebus.ServiceBusNamespaceProbe;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.ownership.BrokerProbe;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The probes of the triggers' brokers a Functions heartbeat asks besides its own changelog (see
 * {@link TandemFunctions.Builder#triggerProbe(BrokerProbe)}), assembled at build: the ones the
 * builder was given, and, for a Service Bus trigger declared by its recheck sender, that namespace
 * unless a probe of the same name was given (issue 15 item 8: without it a region whose namespace is
 * down kept its shards while its changelog answered, and their messages waited out the outage);
 * none at all is said loudly. With a {@link TandemRegion}, each probe's answers are recorded for the
 * region's health ({@link TriggerProbeEvidence}, issue 21).
 */
final class TriggerProbes {

  private static final Logger log = LoggerFactory.getLogger(TandemFunctions.class);

  private TriggerProbes() {}

  /**
   * The probes to give the heartbeat.
   *
   * @param given the builder's trigger probes
   * @param recheckSender the builder's recheck sender, or null
   * @param region the region the configuration is made from, or null (built from parts: then no
   *     health reads the probes)
   */
  static List<BrokerProbe> assemble(List<BrokerProbe> given, ServiceBusSenderClient recheckSender,
      ShardOwnership ownership, TandemRegion region, TandemClock clock) {
    RegionId self = ownership.self();
    List<BrokerProbe> probes = new ArrayList<>(given);
    if (recheckSender != null) {
      ServiceBusNamespaceProbe p = ServiceBusNamespaceProbe.of(recheckSender);
      if (probes.stream().noneMatch(q -> q.name().equals(p.name()))) {
        probes.add(p);
        boolean roundTrip = probes.stream()
            .anyMatch(q -> q instanceof ServiceBusNamespaceProbe sp && sp.roundTrip());
        if (roundTrip) {
          log.info("Tandem " + self + ": the heartbeat also probes the"
              + " recheck sender's namespace (" + p.name() + ")");
        } else {
          // the SDK builds a batch from the open send link's cached size: no request is sent
          log.warn("Tandem " + self + ": the heartbeat probes the Service"
              + " Bus namespace only through the recheck sender (" + p.name() + "), which"
              + " answers from its open send link without a request: an outage is noticed only"
              + " once the SDK closes the link or connection, and until then this region keeps"
              + " its shards. Give TandemFunctions.Builder.triggerProbe("
              + "ServiceBusNamespaceProbe.of(receiver)) with a ServiceBusReceiverClient of the"
              + " trigger's entity (peekMessage: a round trip on every heartbeat)");
        }
      }
    }
    if (probes.isEmpty()) {
      log.warn("Tandem " + self + ": shard ownership without a trigger"
          + " probe: the heartbeat checks only this region's changelog broker. If a trigger's"
          + " broker (a Service Bus namespace, a Kafka cluster other than the changelog's) can be"
          + " down while the changelog answers, this region keeps its shards and their messages"
          + " wait out the outage; give TandemFunctions.Builder.triggerProbe(...) one probe per"
          + " trigger (ServiceBusNamespaceProbe.of(receiver), KafkaClusterProbe.of(...))");
    }
    if (region == null || probes.isEmpty()) {
      return List.copyOf(probes);
    }
    // issue 21: the region's health reads what the heartbeat's trigger probes found, as it reads a
    // poll loop's broker probe (a region whose trigger broker is silent renews no lease)
    TriggerProbeEvidence evidence = new TriggerProbeEvidence(clock, region.heartbeatInterval(),
        ownership.revalidateAfter());
    List<BrokerProbe> recording = evidence.recording(probes);
    for (String name : evidence.names()) {
      region.registerBrokerEvidence(name, () -> evidence.recent(name));
    }
    return recording;
  }
}
