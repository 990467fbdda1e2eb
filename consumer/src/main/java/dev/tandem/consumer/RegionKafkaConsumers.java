package dev.tandem.consumer;

import dev.tandem.consumer.internal.RegionAssembly;
import dev.tandem.consumer.internal.RegionProducers;
import dev.tandem.consumer.kafka.TandemKafkaConsumer;
import dev.tandem.consumer.kafka.TandemRecordHandler;
import dev.tandem.consumer.ownership.OwnershipRequests;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.KafkaRegionalSink;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kafka consumers a {@link TandemRegion} makes and closes: their client settings (checked:
 * {@code group.id} required, no auto commit, no topic auto-creation, the revoke bound below {@code
 * max.poll.interval.ms}), the partition count of each consumed topic against {@code tandem.shards},
 * their wiring to the region's store, log, ownership and sinks, and their parallel stop on close.
 * Not API; the region calls it under its own lock.
 */
final class RegionKafkaConsumers {

  // the category these lines had before the split (an operator's log config names it)
  private static final Logger log = LoggerFactory.getLogger(TandemRegion.class);

  /**
   * How long close() waits for a consumer's close (which waits up to 60 s + 10 s for its loop, then
   * for a failback in progress, bounded by catchUpTimeout).
   */
  static final Duration CONSUMER_STOP_WAIT = Duration.ofSeconds(75);

  /** A consumer made here and how to close its Kafka consumer. */
  record Made(TandemKafkaConsumer<?, ?> consumer, Runnable closeKafka) {}

  private final TandemRegionConfig config;
  private final RegionId region;
  private final String instance;
  private final MeterRegistry meters;
  private final RegionAssembly parts;
  private final RegionProducers producers;
  private final Consumer<OnceProcessor.Builder> processorDefaults;
  private final Supplier<OwnershipRequests> ownershipRequests;
  private final List<Made> made = new CopyOnWriteArrayList<>();
  private int count;

  RegionKafkaConsumers(TandemRegionConfig config, String instance, MeterRegistry meters,
      RegionAssembly parts, RegionProducers producers,
      Consumer<OnceProcessor.Builder> processorDefaults,
      Supplier<OwnershipRequests> ownershipRequests) {
    this.config = config;
    this.region = config.region();
    this.instance = instance;
    this.meters = meters;
    this.parts = parts;
    this.producers = producers;
    this.processorDefaults = processorDefaults;
    this.ownershipRequests = ownershipRequests;
  }

  /** The consumers made and not discarded (a snapshot; safe from any thread). */
  List<TandemKafkaConsumer<?, ?>> consumers() {
    List<TandemKafkaConsumer<?, ?>> out = new ArrayList<>();
    for (Made m : made) {
      out.add(m.consumer());
    }
    return out;
  }

  /** See {@link TandemRegion#kafkaConsumer(String, Deserializer, Deserializer, TandemRecordHandler, Map, Consumer)}. */
  <K, V> TandemKafkaConsumer<K, V> make(String topic, Deserializer<K> keyDeserializer,
      Deserializer<V> valueDeserializer, TandemRecordHandler<K, V> handler,
      Map<String, ?> kafkaOverrides, Consumer<TandemKafkaConsumer.Builder<K, V>> options) {
    if (!config.allShards() && count > 0) {
      throw new ConfigException(TandemRegionConfig.STORE_SHARDS_CONFIG, "assigned",
          "a region object with tandem.store.shards=assigned serves one Kafka consumer (its "
              + "assignments decide which shards the replica holds); use tandem.store.shards=all "
              + "for several consumers or topics");
    }
    Properties cp = new Properties();
    cp.putAll(config.nonTandemOriginals());
    cp.putAll(config.regionClientProperties(region));
    cp.putAll(kafkaOverrides);
    Object group = cp.get(ConsumerConfig.GROUP_ID_CONFIG);
    if (group == null || group.toString().isBlank()) {
      throw new ConfigException(ConsumerConfig.GROUP_ID_CONFIG, group,
          "a Tandem Kafka consumer needs a consumer group (group.id)");
    }
    Object autoCommit = cp.get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG);
    if (autoCommit != null && Boolean.parseBoolean(autoCommit.toString().trim())) {
      throw new ConfigException(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, autoCommit,
          "Tandem commits an offset only after its completion is in the changelog; remove it");
    }
    // this consumer's own max.poll.interval.ms (an override) against the revoke bound too
    config.checkRevokeBelowMaxPoll(cp);
    cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    Object autoCreate = cp.get(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG);
    if (autoCreate != null && Boolean.parseBoolean(autoCreate.toString().trim())) {
      throw new ConfigException(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, autoCreate,
          "a topic created by a consumer gets the broker's partition count, not "
              + TandemRegionConfig.SHARDS_CONFIG + "; create the topic with that many partitions");
    }
    // a consumed topic that does not exist is waited for, never created with the broker's count
    cp.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
    cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    int n = count + 1; // counted once built
    cp.putIfAbsent(ConsumerConfig.CLIENT_ID_CONFIG, instance + "-" + topic + "-" + n);
    checkPartitions(topic);
    KafkaConsumer<byte[], byte[]> kafka = new KafkaConsumer<>(cp);
    try {
      TandemKafkaConsumer.Builder<K, V> cb =
          TandemKafkaConsumer.builder(topic, keyDeserializer, valueDeserializer)
              .consumer(kafka)
              .handler(handler)
              .store(parts.replicated)
              .deadLetterSink(producers.kafkaDeadLetters())
              // all shards materialised <=> the consumer does not hand its assignments to the log
              .replicationLog(parts.replicationLog, !config.allShards())
              .heartbeatInterval(config.duration(TandemRegionConfig.HEARTBEAT_INTERVAL_MS_CONFIG))
              .handlerTimeout(config.duration(TandemRegionConfig.HANDLER_TIMEOUT_MS_CONFIG))
              .maxHold(config.duration(TandemRegionConfig.MAX_HOLD_MS_CONFIG))
              .commitTimeout(config.duration(TandemRegionConfig.COMMIT_TIMEOUT_MS_CONFIG))
              .revokeTimeout(config.duration(TandemRegionConfig.REVOKE_TIMEOUT_MS_CONFIG))
              .handoffTimeout(config.duration(TandemRegionConfig.HANDOFF_TIMEOUT_MS_CONFIG))
              .processorOptions(processorDefaults)
              .meterRegistry(meters);
      if (parts.ownership != null) {
        cb.ownership(parts.ownership);
        // the loop that runs a shard's work is the one that acts on evacuate/return requests
        cb.ownershipRequests(ownershipRequests.get());
      }
      for (Map.Entry<RegionId, KafkaRegionalSink> e : producers.resendSinks().entrySet()) {
        cb.resendSink(e.getKey(), e.getValue());
      }
      options.accept(cb);
      TandemKafkaConsumer<K, V> c = cb.build();
      count = n;
      AtomicBoolean kafkaClosed = new AtomicBoolean();
      Runnable closeKafka = () -> {
        if (kafkaClosed.compareAndSet(false, true)) {
          RegionAssembly.closeQuietly(() -> kafka.close(Duration.ofSeconds(5)));
        }
      };
      // the Kafka consumer is this region's: closed once its loop has stopped normally (on the loop's
      // own thread, after its last commit; the group then reassigns its partitions at once), or by
      // the region's close
      c.stopped().thenRun(closeKafka);
      made.add(new Made(c, closeKafka));
      return c;
    } catch (RuntimeException e) {
      kafka.close(Duration.ZERO);
      throw e;
    }
  }

  /** Closes a consumer made here that is not handed out, and forgets it. */
  void discard(TandemKafkaConsumer<?, ?> c) {
    for (Made m : made) {
      if (m.consumer() == c) {
        made.remove(m);
        RegionAssembly.closeQuietly(m.consumer());
        m.closeKafka().run();
        count--;
      }
    }
  }

  /**
   * Stops every consumer: each is told to stop at once (each close on its own thread), then each is
   * waited for — n consumers stop in the time of the slowest, not of their sum.
   *
   * @return whether every loop stopped (else the store and log must stay open under it)
   */
  boolean stopAll() {
    List<Made> all = List.copyOf(made);
    List<Thread> stopping = new ArrayList<>();
    for (Made m : all) {
      Thread t = new Thread(() -> RegionAssembly.closeQuietly(m.consumer()),
          "tandem-close-" + region + "-" + instance + "-" + stopping.size());
      t.setDaemon(true);
      t.start();
      stopping.add(t);
    }
    boolean loopsStopped = true;
    for (int i = 0; i < stopping.size(); i++) {
      Made m = all.get(i);
      try {
        stopping.get(i).join(CONSUMER_STOP_WAIT.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (m.consumer().isRunning()) {
        // its Kafka consumer belongs to the loop's thread (closing it from here would only throw
        // ConcurrentModificationException); the loop closes it when it stops
        loopsStopped = false;
        log.error("Tandem region {}: the poll loop of {} did not stop within {}; its Kafka "
            + "consumer, the replication log and the store are left open under it", region,
            m.consumer(), CONSUMER_STOP_WAIT);
      } else {
        m.closeKafka().run();
        if (stopping.get(i).isAlive()) {
          // the loop stopped, but its close() still waits for a failback handover the loop started
          // (on a thread of its own, writing the lease into the store): keep the store open too
          loopsStopped = false;
          log.error("Tandem region {}: {} still waits for a failback handover after {}; the "
              + "replication log and the store are left open under it", region, m.consumer(),
              CONSUMER_STOP_WAIT);
        }
      }
    }
    return loopsStopped;
  }

  /**
   * Partition n is shard n: a topic with more partitions than {@code tandem.shards} would make
   * records of shards that exist in no changelog and no lease. Refused here, naming the key; a topic
   * whose metadata does not come within 5 s is only logged (it may not exist yet).
   */
  private void checkPartitions(String topic) {
    // Admin, not the consumer's partitionsFor: a metadata request of a consumer may auto-create a
    // topic that does not exist yet (allow.auto.create.topics), with the broker's partition count
    int partitions;
    int shards = config.getInt(TandemRegionConfig.SHARDS_CONFIG);
    Properties ap = config.regionClientProperties(region);
    ap.putIfAbsent(AdminClientConfig.CLIENT_ID_CONFIG, "tandem-check-" + region + "-" + instance);
    Admin admin = null;
    try {
      admin = Admin.create(ap);
      partitions = admin.describeTopics(List.of(topic)).allTopicNames()
          .get(5, TimeUnit.SECONDS).get(topic).partitions().size();
    } catch (ExecutionException e) {
      if (e.getCause() instanceof UnknownTopicOrPartitionException) {
        // allow.auto.create.topics=false: the consumer waits for the topic, it never creates it
        log.warn("Tandem region {}: topic {} does not exist; its consumer gets no partitions until "
            + "it is created (with at most {}={} partitions)", region, topic,
            TandemRegionConfig.SHARDS_CONFIG, shards);
      } else {
        log.warn("Tandem region {}: the partitions of {} could not be read ({}); each must be a "
            + "shard below {}={}", region, topic, e.getCause().toString(),
            TandemRegionConfig.SHARDS_CONFIG, shards);
      }
      return;
    } catch (TimeoutException | RuntimeException e) {
      log.warn("Tandem region {}: the partitions of {} could not be read ({}); each must be a shard "
          + "below {}={}", region, topic, e.toString(), TandemRegionConfig.SHARDS_CONFIG, shards);
      return;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    } finally {
      if (admin != null) {
        admin.close(Duration.ofSeconds(1)); // never wait out a call to a broker that is down
      }
    }
    if (partitions > shards) {
      throw new ConfigException(TandemRegionConfig.SHARDS_CONFIG, shards, "topic " + topic
          + " has " + partitions + " partitions; partition n is shard n, so a topic consumed "
          + "through this region has at most " + TandemRegionConfig.SHARDS_CONFIG + " partitions");
    }
  }
}
