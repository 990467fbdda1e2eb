package dev.tandem.consumer;

/**
 * Every Micrometer meter name the consumer module registers, in one place, so dashboards, alert
 * rules and tests can refer to a constant instead of a string copied from the code. Each meter is
 * tagged {@code region}; further tags are named next to the constant.
 *
 * <p>Sections follow the concepts that register the meters. Code that registers a meter takes its
 * name from here; {@code ConsumerMeterNamesTest} checks that a running region registers no
 * {@code tandem.*} name of this module that is missing here.
 */
public final class ConsumerMeterNames {

  private ConsumerMeterNames() {}

  // ---- processing: OnceProcessor and its parts, ConsumerMetrics -------------------------------

  // ---- region: TandemRegion, RegionHealth -------------------------------------------------------

  // ---- Kafka consumer loop and interceptor (consumer.kafka) -------------------------------------

  // ---- ownership: leases, takeover, handover, requests, liveness, witness -----------------------

  // ---- end of sections ----------------------------------------------------------------------------
}
