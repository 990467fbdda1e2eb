package dev.tandem.publisher;

import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;

/**
 * Configuration of {@link TandemKafkaProducer} when built from properties: the shared keys of {@link
 * TandemClientConfig} ({@code tandem.regions}, {@code tandem.region.<r>.<kafka key>}) plus the
 * publisher's own, declared once in {@link #configDef()} (types, defaults, validators, documentation;
 * {@code *.ms} are milliseconds). Every key not starting with {@code tandem.} is an ordinary Kafka
 * producer setting given to every region's producer; {@code tandem.region.<name>.<kafka key>}
 * overrides it for one region (at least {@code bootstrap.servers}). {@code key.serializer} / {@code
 * value.serializer} serialize for the wrapper; the region producers always send bytes. An unknown
 * {@code tandem.*} key is an error.
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
public class TandemProducerConfig extends TandemClientConfig {

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

  /** The publisher's name, the {@link PublisherMeterNames#TAG_PUBLISHER} tag of its metrics; default {@code default}. */
  public static final String NAME_CONFIG = "tandem.name";

  private static final ConfigDef CONFIG = configDef();

  /** The publisher's key table: {@link TandemClientConfig#baseConfigDef()} plus its own keys. */
  public static ConfigDef configDef() {
    return new ConfigDef(baseConfigDef())
        .define(SPOOL_DIR_CONFIG, Type.STRING, ConfigDef.NO_DEFAULT_VALUE,
            new ConfigDef.NonEmptyString(), Importance.HIGH,
            "Directory of the publisher's durable spool: a copy a region did not acknowledge within "
                + "tandem.timeout.ms is fsynced here and replayed in order when the region is back.")
        .define(ACK_POLICY_CONFIG, Type.STRING, AckPolicy.ANY.name(),
            oneOf("ALL", "ANY", "QUORUM"), Importance.HIGH,
            "When a send completes: ANY (one region's broker or the spool), ALL, QUORUM.")
        .define(TIMEOUT_MS_CONFIG, Type.LONG, DualPublisher.Builder.DEFAULT_TIMEOUT.toMillis(),
            Range.atLeast(1), Importance.MEDIUM,
            "Publish timeout per region copy (ms): a slower copy is spooled.")
        .define(SPOOL_MAX_RECORDS_CONFIG, Type.LONG, DualPublisher.Builder.DEFAULT_SPOOL_MAX_RECORDS,
            Range.atLeast(1), Importance.LOW, "Spool bound in records.")
        .define(SPOOL_MAX_BYTES_CONFIG, Type.LONG, DualPublisher.Builder.DEFAULT_SPOOL_MAX_BYTES,
            Range.atLeast(1), Importance.LOW, "Spool bound in bytes.")
        .define(REPLAY_RATE_CONFIG, Type.INT, DualPublisher.Builder.DEFAULT_REPLAY_RATE,
            Range.atLeast(1), Importance.LOW, "Spool replay rate per region, records/s.")
        .define(ID_HEADER_CONFIG, Type.STRING, TandemKafkaProducer.ID_HEADER,
            new ConfigDef.NonEmptyString(), Importance.MEDIUM,
            "Name of a record header whose UTF-8 value is the Tandem id (a business key); without it "
                + "on a record a new UUIDv7 is used.")
        .define(PARTITION_RECHECK_MS_CONFIG, Type.LONG, TandemKafkaProducer.DEFAULT_RECHECK_MILLIS,
            Range.atLeast(1), Importance.LOW,
            "Interval (ms) of re-checks of a topic's partition count in a region that could not "
                + "answer at the first send.")
        .define(NAME_CONFIG, Type.STRING, "default", new ConfigDef.NonEmptyString(),
            Importance.LOW, "The publisher's name, the publisher tag of its metrics.");
  }

  /** Parses and validates {@code originals} (a {@code Properties} or a map of strings and values). */
  public TandemProducerConfig(Map<?, ?> originals) {
    super(CONFIG, originals);
  }

  /** The ack policy. */
  public AckPolicy ackPolicy() {
    return AckPolicy.valueOf(getString(ACK_POLICY_CONFIG).trim().toUpperCase(java.util.Locale.ROOT));
  }

  /** The key table as reStructuredText (for docs). */
  public static String toRst() {
    return CONFIG.toRst();
  }
}
