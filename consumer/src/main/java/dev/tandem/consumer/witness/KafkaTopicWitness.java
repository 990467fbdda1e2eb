package dev.tandem.consumer.witness;

import dev.tandem.core.RegionId;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A {@link TakeoverWitness} over a single-partition topic on a third Kafka cluster, outside both
 * regions. The topic's log is the arbiter: every acquire, renew and release is appended, and every
 * contender replays the log to its end and applies the same rules, so all agree on the holder.
 *
 * <h2>Rules (applied in log order, per shard)</h2>
 *
 * <ul>
 *   <li>{@code CLAIM(epoch e, region r)} wins if {@code e} is greater than the current epoch: the
 *       first claim of an epoch in the log wins, later claims of the same epoch lose;
 *   <li>{@code RENEW(e, r)} counts only if {@code r} holds epoch {@code e} when it is applied;
 *   <li>{@code RELEASE(e, r)} frees the lease if {@code r} holds epoch {@code e}.
 * </ul>
 *
 * <h2>Time</h2>
 *
 * No wall clock is compared across machines. A holder trusts its grant until its own monotonic time
 * taken before the append, plus the lease duration, minus the margin. A contender appends a claim
 * only after it has seen no counted renewal of the holder for the lease duration plus the margin on
 * its own monotonic clock, counted from when it read that renewal. Reading late only delays the
 * contender; so the holder stops before any contender can win, as long as the two clocks' rates
 * differ by less than margin / lease.
 */
public final class KafkaTopicWitness implements TakeoverWitness {

  private static final byte CLAIM = 1;
  private static final byte RENEW = 2;
  private static final byte RELEASE = 3;

  private final String topic;
  private final TopicPartition partition;
  private final Duration lease;
  private final Duration margin;
  private final Duration requestTimeout;
  private final LongSupplier nanoTime;
  private final KafkaProducer<byte[], byte[]> producer;
  private final KafkaConsumer<byte[], byte[]> consumer;
  /** Log state per shard, as of {@link #position}. Guarded by {@code this}. */
  private final Map<Integer, ShardState> states = new HashMap<>();

  private long position;

  /** The witness's view of one shard. */
  private static final class ShardState {
    long epoch = -1;
    RegionId holder;
    /** Local monotonic time at which this contender read the holder's last counted record. */
    long lastSeenNanos;
  }

  private KafkaTopicWitness(Builder b) {
    this.topic = b.topic;
    this.partition = new TopicPartition(b.topic, 0);
    this.lease = b.lease;
    this.margin = b.margin;
    this.requestTimeout = b.requestTimeout;
    this.nanoTime = b.nanoTime;
    int timeoutMs = (int) requestTimeout.toMillis();
    Properties p = new Properties();
    p.putAll(b.clientProperties);
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, b.bootstrapServers);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "0");
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, String.valueOf(timeoutMs));
    p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(timeoutMs));
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, String.valueOf(timeoutMs));
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    this.producer = new KafkaProducer<>(p);
    Properties c = new Properties();
    c.putAll(b.clientProperties);
    c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, b.bootstrapServers);
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    c.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(timeoutMs));
    c.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(timeoutMs));
    c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    this.consumer = new KafkaConsumer<>(c);
    consumer.assign(List.of(partition));
    consumer.seekToBeginning(List.of(partition));
  }

  /** A builder; {@code bootstrapServers} and {@code topic} are required. */
  public static Builder builder() {
    return new Builder();
  }

  @Override
  public synchronized WitnessGrant acquire(int shard, RegionId candidate, long epoch) {
    Objects.requireNonNull(candidate, "candidate");
    long requestedAt = nanoTime.getAsLong();
    readToEnd();
    ShardState s = state(shard);
    boolean holds = candidate.equals(s.holder) && s.epoch == epoch;
    if (holds) {
      append(shard, RENEW, epoch, candidate);
    } else {
      if (epoch <= s.epoch) {
        return WitnessGrant.refused(s.holder, s.epoch);
      }
      boolean free =
          s.holder == null || candidate.equals(s.holder) || silentFor(s, lease.plus(margin));
      if (!free) {
        return WitnessGrant.refused(s.holder, s.epoch);
      }
      append(shard, CLAIM, epoch, candidate);
    }
    readToEnd();
    ShardState after = state(shard);
    if (candidate.equals(after.holder) && after.epoch == epoch) {
      return WitnessGrant.granted(candidate, epoch, requestedAt + lease.minus(margin).toNanos());
    }
    return WitnessGrant.refused(after.holder, after.epoch);
  }

  @Override
  public synchronized void release(int shard, RegionId holder) {
    readToEnd();
    ShardState s = state(shard);
    if (holder.equals(s.holder)) {
      append(shard, RELEASE, s.epoch, holder);
      readToEnd();
    }
  }

  @Override
  public Duration leaseDuration() {
    return lease;
  }

  /** The holder of {@code shard} as this contender last read the log (null when free or unknown). */
  public synchronized RegionId holder(int shard) {
    ShardState s = states.get(shard);
    return s == null ? null : s.holder;
  }

  @Override
  public synchronized void close() {
    producer.close(Duration.ofSeconds(5));
    consumer.close(Duration.ofSeconds(5));
  }

  @Override
  public String toString() {
    return "KafkaTopicWitness[" + topic + ", lease=" + lease + ", margin=" + margin + "]";
  }

  private boolean silentFor(ShardState s, Duration d) {
    return nanoTime.getAsLong() - s.lastSeenNanos >= d.toNanos();
  }

  private ShardState state(int shard) {
    return states.computeIfAbsent(shard, k -> new ShardState());
  }

  private void append(int shard, byte kind, long epoch, RegionId region) {
    byte[] name = region.name().getBytes(StandardCharsets.UTF_8);
    byte[] value =
        ByteBuffer.allocate(1 + 1 + 4 + 8 + 1 + name.length)
            .put((byte) 1)
            .put(kind)
            .putInt(shard)
            .putLong(epoch)
            .put((byte) name.length)
            .put(name)
            .array();
    try {
      producer
          .send(new ProducerRecord<>(topic, 0, ByteBuffer.allocate(4).putInt(shard).array(), value))
          .get(requestTimeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new WitnessUnavailableException("interrupted while writing to witness topic " + topic, e);
    } catch (ExecutionException | TimeoutException | KafkaException e) {
      throw new WitnessUnavailableException(
          "witness topic " + topic + " did not take the write within " + requestTimeout, e);
    }
  }

  private void readToEnd() {
    long deadline = nanoTime.getAsLong() + requestTimeout.toNanos();
    try {
      long end = consumer.endOffsets(List.of(partition), requestTimeout).get(partition);
      while (position < end) {
        if (nanoTime.getAsLong() - deadline > 0) {
          throw new WitnessUnavailableException(
              "witness topic " + topic + " not read to its end (" + position + "/" + end + ") within "
                  + requestTimeout, null);
        }
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          apply(r.value());
          position = r.offset() + 1;
        }
      }
    } catch (KafkaException e) {
      throw new WitnessUnavailableException("witness topic " + topic + " unreachable", e);
    }
  }

  private void apply(byte[] value) {
    if (value == null || value.length < 15 || value[0] != 1) {
      return; // not ours: a witness topic is ours alone, but never let junk decide a lease
    }
    ByteBuffer b = ByteBuffer.wrap(value);
    b.get();
    byte kind = b.get();
    int shard = b.getInt();
    long epoch = b.getLong();
    int len = b.get() & 0xff;
    if (b.remaining() != len) {
      return;
    }
    byte[] name = new byte[len];
    b.get(name);
    RegionId region;
    try {
      region = RegionId.of(new String(name, StandardCharsets.UTF_8));
    } catch (IllegalArgumentException e) {
      return;
    }
    ShardState s = state(shard);
    long now = nanoTime.getAsLong();
    switch (kind) {
      case CLAIM -> {
        if (epoch > s.epoch) {
          s.epoch = epoch;
          s.holder = region;
          s.lastSeenNanos = now;
        }
      }
      case RENEW -> {
        if (epoch == s.epoch && region.equals(s.holder)) {
          s.lastSeenNanos = now;
        }
      }
      case RELEASE -> {
        if (epoch == s.epoch && region.equals(s.holder)) {
          s.holder = null;
          s.lastSeenNanos = now;
        }
      }
      default -> {
        // unknown kind from a newer version: ignored, it decides nothing here
      }
    }
  }

  /** Builder of {@link KafkaTopicWitness}. */
  public static final class Builder {
    private String bootstrapServers;
    private String topic;
    private Duration lease = Duration.ofSeconds(10);
    private Duration margin = Duration.ofSeconds(2);
    private Duration requestTimeout = Duration.ofSeconds(3);
    private LongSupplier nanoTime = System::nanoTime;
    private final Properties clientProperties = new Properties();

    private Builder() {}

    /** The witness cluster (a third location, not either region). */
    public Builder bootstrapServers(String bootstrapServers) {
      this.bootstrapServers = Objects.requireNonNull(bootstrapServers, "bootstrapServers");
      return this;
    }

    /** A single-partition topic used by nothing else. */
    public Builder topic(String topic) {
      this.topic = Objects.requireNonNull(topic, "topic");
      return this;
    }

    /** How long a grant lasts from its request (default 10 s). */
    public Builder lease(Duration lease) {
      this.lease = Objects.requireNonNull(lease, "lease");
      return this;
    }

    /** Safety margin taken off the holder's grant and added to a contender's wait (default 2 s). */
    public Builder margin(Duration margin) {
      this.margin = Objects.requireNonNull(margin, "margin");
      return this;
    }

    /** Longest wait for the witness cluster per call (default 3 s). */
    public Builder requestTimeout(Duration requestTimeout) {
      this.requestTimeout = Objects.requireNonNull(requestTimeout, "requestTimeout");
      return this;
    }

    /** Extra client properties (security settings and the like). */
    public Builder clientProperty(String key, String value) {
      clientProperties.put(key, value);
      return this;
    }

    /** The monotonic clock (tests). */
    public Builder nanoTime(LongSupplier nanoTime) {
      this.nanoTime = Objects.requireNonNull(nanoTime, "nanoTime");
      return this;
    }

    public KafkaTopicWitness build() {
      if (bootstrapServers == null || topic == null) {
        throw new IllegalStateException("a Kafka witness needs bootstrapServers and topic");
      }
      if (margin.isNegative() || margin.compareTo(lease) >= 0) {
        throw new IllegalArgumentException("the margin must be >= 0 and shorter than the lease");
      }
      return new KafkaTopicWitness(this);
    }
  }
}
