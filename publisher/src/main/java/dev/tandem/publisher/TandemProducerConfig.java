package dev.tandem.publisher;

/**
 * Configuration keys of {@link TandemKafkaProducer} when built from properties. Every key not starting
 * with {@code tandem.} is an ordinary Kafka producer setting given to every region's producer;
 * {@code tandem.region.<name>.<kafka key>} overrides it for one region (at least {@code
 * bootstrap.servers}). {@code key.serializer} / {@code value.serializer} serialize for the wrapper;
 * the region producers always send bytes.
 *
 * <pre>
 * tandem.regions=westeurope,northeurope
 * tandem.region.westeurope.bootstrap.servers=kafka-we:9092
 * tandem.region.northeurope.bootstrap.servers=kafka-ne:9092
 * tandem.spool.dir=/var/lib/app/tandem-spool
 * tandem.ack.policy=ANY
 * key.serializer=org.apache.kafka.common.serialization.StringSerializer
 * value.serializer=org.apache.kafka.common.serialization.ByteArraySerializer
 * </pre>
 */
public final class TandemProducerConfig {

  /** Comma-separated region names, e.g. {@code westeurope,northeurope}. Required. */
  public static final String REGIONS_CONFIG = "tandem.regions";
  /** Prefix of per-region producer settings: {@code tandem.region.<name>.<kafka key>}. */
  public static final String REGION_PREFIX = "tandem.region.";
  /** {@link AckPolicy} name; default {@code ANY}. */
  public static final String ACK_POLICY_CONFIG = "tandem.ack.policy";
  /** Publish timeout per region copy, milliseconds; default 30000. */
  public static final String TIMEOUT_MS_CONFIG = "tandem.timeout.ms";
  /** Directory of the durable spool. Required. */
  public static final String SPOOL_DIR_CONFIG = "tandem.spool.dir";
  /** Spool bound in records; default {@link DualPublisher.Builder#DEFAULT_SPOOL_MAX_RECORDS}. */
  public static final String SPOOL_MAX_RECORDS_CONFIG = "tandem.spool.max.records";
  /** Spool bound in bytes; default {@link DualPublisher.Builder#DEFAULT_SPOOL_MAX_BYTES}. */
  public static final String SPOOL_MAX_BYTES_CONFIG = "tandem.spool.max.bytes";
  /** Replay rate per region, records/s; default {@link DualPublisher.Builder#DEFAULT_REPLAY_RATE}. */
  public static final String REPLAY_RATE_CONFIG = "tandem.replay.rate";
  /**
   * Name of a record header whose (UTF-8) value is the Tandem id (a business key); default {@link
   * TandemKafkaProducer#ID_HEADER}. Without it on a record, a new UUIDv7 is used.
   */
  public static final String ID_HEADER_CONFIG = "tandem.id.header";

  /**
   * Milliseconds between re-checks of a topic's partition count in a region that could not answer at
   * the first send (it was down); default {@link TandemKafkaProducer#DEFAULT_RECHECK_MILLIS}.
   */
  public static final String PARTITION_RECHECK_MS_CONFIG = "tandem.partition.recheck.ms";

  /** The publisher's name, the {@code publisher} tag of its metrics; default {@code default}. */
  public static final String NAME_CONFIG = "tandem.name";

  private TandemProducerConfig() {}
}
