package dev.tandem.spring.autoconfigure;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * {@code tandem.*} in {@code application.yml}: the region's key table ({@code TandemRegionConfig}) and
 * the producer's ({@code TandemProducerConfig}), one Spring property per Tandem key. (Over 500 lines
 * on purpose: one getter/setter pair with its Javadoc per key is what Spring's configuration-metadata
 * processor reads to give IDE completion and docs; the mapping logic is in {@link TandemPropertyKeys}.) The mapping is
 * mechanical ({@link TandemPropertyKeys}), so the two tables cannot drift apart:
 *
 * <ul>
 *   <li>a property's path is the Tandem key: {@code tandem.store.max.attempts} is {@code
 *       tandem.store.max.attempts};
 *   <li>a Tandem key ending in {@code .ms} is a {@link Duration} property without the {@code .ms}:
 *       {@code tandem.lease.timeout: 6s} is {@code tandem.lease.timeout.ms=6000} (a bare number is
 *       milliseconds, as in the key table);
 *   <li>{@code tandem.regions} is a map, region name to that region's Kafka client settings, in order:
 *       {@code tandem.regions.<r>.<kafka key>} gives {@code tandem.regions} (the names, in the order
 *       written) and {@code tandem.region.<r>.<kafka key>} (YAML cannot hold {@code tandem.region} both
 *       as this region's name and as a prefix);
 *   <li>{@code tandem.witness.client.<kafka key>} is {@code tandem.witness.<kafka key>} (the witness
 *       cluster's client settings beside its declared keys);
 *   <li>{@code tandem.consumer.<kafka key>} is a plain {@code <kafka key>} of the region's own
 *       consumers ({@code TandemRegion.kafkaConsumer}); the {@code @KafkaListener} containers take
 *       Spring Boot's {@code spring.kafka.consumer.*} instead.
 * </ul>
 *
 * <p>An unset property is not passed on: the key table's default applies. Every value is checked
 * by the key table when the region starts ({@code ConfigException} naming the Tandem key). A
 * {@code tandem.*} property that maps onto none of these (a misspelt key) fails the start naming it,
 * as an unknown key of a region's properties file does; Spring Boot leaves environment variables and
 * system properties out of that check.
 */
// ignoreUnknownFields = false: Spring's default ignores a misspelt key, which then started the
// region with that key's default, silently (TandemPropertiesMisspeltKeyTest)
@ConfigurationProperties(prefix = "tandem", ignoreUnknownFields = false)
public class TandemProperties {

  /** This process's region, one of tandem.regions. */
  private String region;
  /**
   * Every region, in order, with its Kafka client settings (at least bootstrap.servers; also
   * security.protocol, sasl.*, ssl.*): tandem.regions.&lt;name&gt;.&lt;kafka key&gt;.
   */
  private Map<String, Map<String, String>> regions = new LinkedHashMap<>();
  /** This instance's name (default: persisted in &lt;tandem.state.dir&gt;/instance.id). */
  private String instance;
  /** Number of shards: the partition count of every consumed topic and of the changelog. */
  private Integer shards;
  /** full (default) or detect-only. */
  private String guarantee;
  /** Kafka settings of the consumers the region itself makes (not of @KafkaListener containers). */
  private Map<String, String> consumer = new LinkedHashMap<>();
  /** Publish timeout per region copy (tandem.timeout.ms): a slower copy is spooled. */
  private Duration timeout;
  /** The publisher's name, the publisher tag of its metrics. */
  private String name;

  private final State state = new State();
  private final Ownership ownership = new Ownership();
  private final Lease lease = new Lease();
  private final Takeover takeover = new Takeover();
  private final Stuck stuck = new Stuck();
  private final Heartbeat heartbeat = new Heartbeat();
  private final Handler handler = new Handler();
  private final Claim claim = new Claim();
  private final Record record = new Record();
  private final Stale stale = new Stale();
  private final Store store = new Store();
  private final Changelog changelog = new Changelog();
  private final Replication replication = new Replication();
  private final Catchup catchup = new Catchup();
  private final Failback failback = new Failback();
  private final Max max = new Max();
  private final Commit commit = new Commit();
  private final Revoke revoke = new Revoke();
  private final Handoff handoff = new Handoff();
  private final Witness witness = new Witness();
  private final Ack ack = new Ack();
  private final Spool spool = new Spool();
  private final Replay replay = new Replay();
  private final Id id = new Id();
  private final Partition partition = new Partition();

  public String getRegion() {
    return region;
  }

  public void setRegion(String region) {
    this.region = region;
  }

  public Map<String, Map<String, String>> getRegions() {
    return regions;
  }

  public void setRegions(Map<String, Map<String, String>> regions) {
    this.regions = regions;
  }

  public String getInstance() {
    return instance;
  }

  public void setInstance(String instance) {
    this.instance = instance;
  }

  public Integer getShards() {
    return shards;
  }

  public void setShards(Integer shards) {
    this.shards = shards;
  }

  public String getGuarantee() {
    return guarantee;
  }

  public void setGuarantee(String guarantee) {
    this.guarantee = guarantee;
  }

  public Map<String, String> getConsumer() {
    return consumer;
  }

  public void setConsumer(Map<String, String> consumer) {
    this.consumer = consumer;
  }

  public Duration getTimeout() {
    return timeout;
  }

  public void setTimeout(Duration timeout) {
    this.timeout = timeout;
  }

  public String getName() {
    return name;
  }

  public void setName(String name) {
    this.name = name;
  }

  public State getState() {
    return state;
  }

  public Ownership getOwnership() {
    return ownership;
  }

  public Lease getLease() {
    return lease;
  }

  public Takeover getTakeover() {
    return takeover;
  }

  public Stuck getStuck() {
    return stuck;
  }

  public Heartbeat getHeartbeat() {
    return heartbeat;
  }

  public Handler getHandler() {
    return handler;
  }

  public Claim getClaim() {
    return claim;
  }

  public Record getRecord() {
    return record;
  }

  public Stale getStale() {
    return stale;
  }

  public Store getStore() {
    return store;
  }

  public Changelog getChangelog() {
    return changelog;
  }

  public Replication getReplication() {
    return replication;
  }

  public Catchup getCatchup() {
    return catchup;
  }

  public Failback getFailback() {
    return failback;
  }

  public Max getMax() {
    return max;
  }

  public Commit getCommit() {
    return commit;
  }

  public Revoke getRevoke() {
    return revoke;
  }

  public Handoff getHandoff() {
    return handoff;
  }

  public Witness getWitness() {
    return witness;
  }

  public Ack getAck() {
    return ack;
  }

  public Spool getSpool() {
    return spool;
  }

  public Replay getReplay() {
    return replay;
  }

  public Id getId() {
    return id;
  }

  public Partition getPartition() {
    return partition;
  }

  /** tandem.state.* */
  public static class State {
    /** Directory of this process's Tandem state (store, changelog spool, instance id). */
    private String dir;

    public String getDir() {
      return dir;
    }

    public void setDir(String dir) {
      this.dir = dir;
    }
  }

  /** tandem.ownership.* */
  public static class Ownership {
    /** automatic (default), witness, manual. */
    private String policy;

    public String getPolicy() {
      return policy;
    }

    public void setPolicy(String policy) {
      this.policy = policy;
    }
  }

  /** tandem.lease.* */
  public static class Lease {
    /** L (tandem.lease.timeout.ms): an owner silent for L + margin is taken over. */
    private Duration timeout;

    public Duration getTimeout() {
      return timeout;
    }

    public void setTimeout(Duration timeout) {
      this.timeout = timeout;
    }
  }

  /** tandem.takeover.* */
  public static class Takeover {
    /** The margin added to L before a takeover (tandem.takeover.margin.ms). */
    private Duration margin;

    public Duration getMargin() {
      return margin;
    }

    public void setMargin(Duration margin) {
      this.margin = margin;
    }
  }

  /** tandem.stuck.* */
  public static class Stuck {
    /** No-progress takeover threshold (tandem.stuck.after.ms). */
    private Duration after;

    public Duration getAfter() {
      return after;
    }

    public void setAfter(Duration after) {
      this.after = after;
    }
  }

  /** tandem.heartbeat.* */
  public static class Heartbeat {
    /** Lease renewal and replica heartbeat interval (tandem.heartbeat.interval.ms). */
    private Duration interval;

    public Duration getInterval() {
      return interval;
    }

    public void setInterval(Duration interval) {
      this.interval = interval;
    }
  }

  /** tandem.handler.* */
  public static class Handler {
    /** A handler call running longer counts as stuck (tandem.handler.timeout.ms). */
    private Duration timeout;

    public Duration getTimeout() {
      return timeout;
    }

    public void setTimeout(Duration timeout) {
      this.timeout = timeout;
    }
  }

  /** tandem.claim.* */
  public static class Claim {
    /** How long a claim lives without renewal (tandem.claim.lease.ms). */
    private Duration lease;

    public Duration getLease() {
      return lease;
    }

    public void setLease(Duration lease) {
      this.lease = lease;
    }
  }

  /** tandem.record.* */
  public static class Record {
    /** Record time-to-live of the store (tandem.record.ttl.ms). */
    private Duration ttl;

    public Duration getTtl() {
      return ttl;
    }

    public void setTtl(Duration ttl) {
      this.ttl = ttl;
    }
  }

  /** tandem.stale.* */
  public static class Stale {
    /** Copies older than TTL minus this are dead-lettered STALE (tandem.stale.margin.ms). */
    private Duration margin;

    public Duration getMargin() {
      return margin;
    }

    public void setMargin(Duration margin) {
      this.margin = margin;
    }
  }

  /** tandem.store.* */
  public static class Store {
    /** fsync every store write. */
    private Boolean sync;
    /** all (default) or assigned. */
    private String shards;

    private final StoreMax max = new StoreMax();

    public Boolean getSync() {
      return sync;
    }

    public void setSync(Boolean sync) {
      this.sync = sync;
    }

    public String getShards() {
      return shards;
    }

    public void setShards(String shards) {
      this.shards = shards;
    }

    public StoreMax getMax() {
      return max;
    }
  }

  /** tandem.store.max.* */
  public static class StoreMax {
    /** Claims of one message before it is dead-lettered. */
    private Integer attempts;

    public Integer getAttempts() {
      return attempts;
    }

    public void setAttempts(Integer attempts) {
      this.attempts = attempts;
    }
  }

  /** tandem.changelog.* */
  public static class Changelog {
    /** retention.ms of created changelog topics (tandem.changelog.retention.ms). */
    private Duration retention;

    private final ChangelogTopic topic = new ChangelogTopic();
    private final ChangelogReplication replication = new ChangelogReplication();
    private final ChangelogPublish publish = new ChangelogPublish();

    public Duration getRetention() {
      return retention;
    }

    public void setRetention(Duration retention) {
      this.retention = retention;
    }

    public ChangelogTopic getTopic() {
      return topic;
    }

    public ChangelogReplication getReplication() {
      return replication;
    }

    public ChangelogPublish getPublish() {
      return publish;
    }
  }

  /** tandem.changelog.topic.* */
  public static class ChangelogTopic {
    /** The changelog topic is &lt;prefix&gt;.changelog in every region. */
    private String prefix;

    public String getPrefix() {
      return prefix;
    }

    public void setPrefix(String prefix) {
      this.prefix = prefix;
    }
  }

  /** tandem.changelog.replication.* */
  public static class ChangelogReplication {
    /** Replication factor of created changelog topics; -1: the broker's default. */
    private Short factor;

    public Short getFactor() {
      return factor;
    }

    public void setFactor(Short factor) {
      this.factor = factor;
    }
  }

  /** tandem.changelog.publish.* */
  public static class ChangelogPublish {
    /** A changelog copy not acknowledged in this time is spooled. */
    private Duration timeout;

    public Duration getTimeout() {
      return timeout;
    }

    public void setTimeout(Duration timeout) {
      this.timeout = timeout;
    }
  }

  /** tandem.replication.* */
  public static class Replication {
    /** The replication window W (changes per shard). */
    private Integer window;

    public Integer getWindow() {
      return window;
    }

    public void setWindow(Integer window) {
      this.window = window;
    }
  }

  /** tandem.catchup.* */
  public static class Catchup {
    /** Bound of each changelog catch-up at takeover (tandem.catchup.timeout.ms). */
    private Duration timeout;

    public Duration getTimeout() {
      return timeout;
    }

    public void setTimeout(Duration timeout) {
      this.timeout = timeout;
    }
  }

  /** tandem.failback.* */
  public static class Failback {
    /** Automatic failback after the home region is healthy this long (tandem.failback.after.ms). */
    private Duration after;

    public Duration getAfter() {
      return after;
    }

    public void setAfter(Duration after) {
      this.after = after;
    }
  }

  /** tandem.max.* */
  public static class Max {
    /** How long a follower holds a copy before re-sending it (tandem.max.hold.ms). */
    private Duration hold;

    public Duration getHold() {
      return hold;
    }

    public void setHold(Duration hold) {
      this.hold = hold;
    }
  }

  /** tandem.commit.* */
  public static class Commit {
    /** Bound of offset commits (tandem.commit.timeout.ms). */
    private Duration timeout;

    public Duration getTimeout() {
      return timeout;
    }

    public void setTimeout(Duration timeout) {
      this.timeout = timeout;
    }
  }

  /** tandem.revoke.* */
  public static class Revoke {
    /** Bound of a rebalance's revoke callback (tandem.revoke.timeout.ms). */
    private Duration timeout;

    public Duration getTimeout() {
      return timeout;
    }

    public void setTimeout(Duration timeout) {
      this.timeout = timeout;
    }
  }

  /** tandem.handoff.* */
  public static class Handoff {
    /** How long a partition handed off unflushed waits for its marker (tandem.handoff.timeout.ms). */
    private Duration timeout;

    public Duration getTimeout() {
      return timeout;
    }

    public void setTimeout(Duration timeout) {
      this.timeout = timeout;
    }
  }

  /** tandem.witness.* */
  public static class Witness {
    /** The witness topic. */
    private String topic;
    /** How long a witness grant lasts (tandem.witness.lease.ms). */
    private Duration lease;
    /** The witness cluster's other Kafka client settings: tandem.witness.&lt;kafka key&gt;. */
    private Map<String, String> client = new LinkedHashMap<>();

    private final WitnessBootstrap bootstrap = new WitnessBootstrap();

    public String getTopic() {
      return topic;
    }

    public void setTopic(String topic) {
      this.topic = topic;
    }

    public Duration getLease() {
      return lease;
    }

    public void setLease(Duration lease) {
      this.lease = lease;
    }

    public Map<String, String> getClient() {
      return client;
    }

    public void setClient(Map<String, String> client) {
      this.client = client;
    }

    public WitnessBootstrap getBootstrap() {
      return bootstrap;
    }
  }

  /** tandem.witness.bootstrap.* */
  public static class WitnessBootstrap {
    /** The witness Kafka cluster of tandem.ownership.policy=witness (a third location). */
    private String servers;

    public String getServers() {
      return servers;
    }

    public void setServers(String servers) {
      this.servers = servers;
    }
  }

  /** tandem.ack.* (producer) */
  public static class Ack {
    /** When a send completes: ANY (default), ALL, QUORUM. */
    private String policy;

    public String getPolicy() {
      return policy;
    }

    public void setPolicy(String policy) {
      this.policy = policy;
    }
  }

  /** tandem.spool.* (producer) */
  public static class Spool {
    /** Directory of the publisher's durable spool (default &lt;tandem.state.dir&gt;/publisher-spool). */
    private String dir;

    private final SpoolMax max = new SpoolMax();

    public String getDir() {
      return dir;
    }

    public void setDir(String dir) {
      this.dir = dir;
    }

    public SpoolMax getMax() {
      return max;
    }
  }

  /** tandem.spool.max.* (producer) */
  public static class SpoolMax {
    /** Spool bound in records. */
    private Long records;
    /** Spool bound in bytes. */
    private Long bytes;

    public Long getRecords() {
      return records;
    }

    public void setRecords(Long records) {
      this.records = records;
    }

    public Long getBytes() {
      return bytes;
    }

    public void setBytes(Long bytes) {
      this.bytes = bytes;
    }
  }

  /** tandem.replay.* (producer) */
  public static class Replay {
    /** Spool replay rate per region, records/s. */
    private Integer rate;

    public Integer getRate() {
      return rate;
    }

    public void setRate(Integer rate) {
      this.rate = rate;
    }
  }

  /** tandem.id.* (producer) */
  public static class Id {
    /** Name of a record header whose UTF-8 value is the Tandem id (a business key). */
    private String header;

    public String getHeader() {
      return header;
    }

    public void setHeader(String header) {
      this.header = header;
    }
  }

  /** tandem.partition.* (producer) */
  public static class Partition {
    /** Re-check interval of a topic's partition count (tandem.partition.recheck.ms). */
    private Duration recheck;

    public Duration getRecheck() {
      return recheck;
    }

    public void setRecheck(Duration recheck) {
      this.recheck = recheck;
    }
  }
}
