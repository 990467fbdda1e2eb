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

  /** Gauge: the replication window W (changes per shard), for the lag alert's W's time. */
  public static final String REGION_REPLICATION_WINDOW = "tandem.region.replication.window";
  /** Gauge: the number of shards ({@code tandem.shards}). */
  public static final String REGION_SHARDS = "tandem.region.shards";

  // ---- Kafka consumer loop and interceptor (consumer.kafka) -------------------------------------

  // ---- ownership: leases, takeover, handover, requests, liveness, witness -----------------------

  // remote ownership requests, the owning side (OwnershipRequests)

  /** Counter, tag {@code outcome}: received, acted, expired, ignored. */
  public static final String OWNERSHIP_REQUESTS = "tandem.ownership.requests";
  /** Timer of the planned handovers done on request, tag {@code outcome}: moved, failed. */
  public static final String OWNERSHIP_REQUEST_HANDOVER = "tandem.ownership.request.handover";
  /**
   * Gauge: 1 while this region object's reader of its ownership request topic has stopped for good
   * (not authorized, a bad configuration): remote requests are not acted on; 0 while it reads.
   */
  public static final String OWNERSHIP_REQUESTS_READER_FAILED =
      "tandem.ownership.requests.reader.failed";

  // ---- end of sections ----------------------------------------------------------------------------
}
