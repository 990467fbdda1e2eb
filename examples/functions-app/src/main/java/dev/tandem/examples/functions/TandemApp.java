package dev.tandem.examples.functions;

import com.azure.messaging.servicebus.ServiceBusClientBuilder;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.azure.functions.IdempotentHttp;
import dev.tandem.azure.functions.InstanceStoreDirectory;
import dev.tandem.azure.functions.TandemFunctions;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.kafka.KafkaDeadLetterSink;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.KafkaReplicationLog;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The one Tandem instance of this function app's process: the RocksDB store in the instance's own
 * directory on its local disk (never the {@code /home} share every instance sees), restored from
 * and replicated through both regions' changelog topics, the shard ownership (which region
 * processes which shard; renewed and taken over by the {@code tandem-heartbeat} timer function),
 * the once-processor fenced by it, the HTTP idempotency, and the sender of the Service
 * Bus function's recheck copies (to the same queue of this region's namespace). Built on first use:
 * by a function, or by the middleware through {@link TandemProvider}.
 */
final class TandemApp {

  private static volatile TandemApp instance;

  final TandemSettings settings;
  final IdempotencyStore store;
  final KafkaReplicationLog replication;
  final ShardOwnership ownership;
  final KafkaDeadLetterSink deadLetters;
  final IdempotentHttp http;
  /** To this region's {@code orders} queue: a follower's recheck copies; null without a connection. */
  final ServiceBusSenderClient recheckSender;
  private final KafkaProducer<byte[], byte[]> dlqProducer;

  private TandemApp(TandemSettings s, ServiceBusSenderClient recheckSender) {
    this.settings = s;
    // The same namespace and queue as the trigger (the ServiceBusConnection setting): a recheck copy
    // must come back to this region's function. The client connects at its first send.
    this.recheckSender = recheckSender != null ? recheckSender
        : s.serviceBusConnection() == null ? null
        : new ServiceBusClientBuilder().connectionString(s.serviceBusConnection()).sender()
            .queueName(OrderFunctions.ORDERS_QUEUE).buildClient();
    // the store directory is this instance's own, on its local disk (TandemSettings); the owner
    // identity names the same instance
    this.store = IdempotencyStore.builder().region(s.region())
        .instance(InstanceStoreDirectory.instanceName(System.getenv()::get))
        .directory(s.storeDirectory().resolve("store")).build();
    this.replication = KafkaReplicationLog.builder()
        .store(store)
        .region(s.region(), s.kafkaLocal())
        .region(s.peer(), s.kafkaPeer())
        .spoolDirectory(s.storeDirectory().resolve("changelog-spool"))
        .shards(s.shards())
        .materializeAllShards() // a small app: every instance holds every shard
        .build();
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, s.kafkaLocal());
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    KafkaProducer<byte[], byte[]> dlq =
        new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    this.dlqProducer = dlq;
    this.deadLetters = KafkaDeadLetterSink.create(dlq, s.region(), "orders.tandem-dlq");
    // AUTOMATIC: the follower takes a shard over after L + margin without a heartbeat (about
    // L + margin + one timer period after the owner went silent; see the README)
    this.ownership = ShardOwnership.builder()
        .region(s.region())
        .regions(List.of(s.region(), s.peer()))
        .store(replication.replicatedStore())
        .replicationLog(replication)
        .policy(OwnershipPolicy.automatic(s.leaseTimeout(), s.takeoverMargin(),
            Duration.ofMinutes(2)))
        .window(s.window())
        .revalidateAfter(s.leaseTimeout()) // an owner silent for L re-reads the changelogs first
        .build();
    this.http = IdempotentHttp.builder().store(replication.replicatedStore()).shardCount(s.shards())
        .build();
  }

  /**
   * What {@link TandemProvider} installs for the middleware, {@code TandemFunctions.once} and the
   * heartbeat timer: the processor is built with the ownership's fence.
   */
  TandemFunctions.Builder functions() {
    TandemFunctions.Builder b = TandemFunctions.builder()
        .processor(OnceProcessor.builder()
            .store(replication.replicatedStore())
            .deadLetterSink(deadLetters)
            .claimLease(Duration.ofMinutes(6))) // above functionTimeout (host.json)
        .ownership(ownership, replication)
        .shardCount(settings.shards())
        // warns at start-up if the Kafka function's copies would not survive a takeover
        .kafkaFunctions(takeoverTime(), OrderFunctions.class);
    if (recheckSender != null) {
      // A follower's Service Bus copy is parked as a recheck copy (one heartbeat period later) and
      // the function returns: no abandon toward MaxDeliveryCount while the other region runs it or
      // this region takes its shards over.
      b.recheckSender(recheckSender).recheckDelay(RECHECK_DELAY);
    }
    return b;
  }

  /** When a recheck copy comes back: one heartbeat timer period. */
  static final Duration RECHECK_DELAY = Duration.ofSeconds(5);
  /** The {@code tandem-heartbeat} timer's period ({@code 0/5 * * * * *}). */
  static final Duration HEARTBEAT_PERIOD = Duration.ofSeconds(5);

  /** About how long a takeover takes: L + margin + one heartbeat timer period. */
  Duration takeoverTime() {
    return settings.leaseTimeout().plus(settings.takeoverMargin()).plus(HEARTBEAT_PERIOD);
  }

  static TandemApp get() {
    TandemApp a = instance;
    if (a == null) {
      synchronized (TandemApp.class) {
        a = instance;
        if (a == null) {
          a = new TandemApp(TandemSettings.fromEnvironment(), null);
          instance = a;
        }
      }
    }
    return a;
  }

  /** Builds the instance from explicit settings (tests; the Functions host uses the environment). */
  static synchronized TandemApp start(TandemSettings settings) {
    return start(settings, null);
  }

  /**
   * Builds the instance with the given recheck sender (tests, where no Service Bus namespace runs);
   * null builds one from the settings.
   */
  static synchronized TandemApp start(TandemSettings settings, ServiceBusSenderClient recheck) {
    if (instance != null) {
      throw new IllegalStateException("the Tandem app of this process is already built");
    }
    instance = new TandemApp(settings, recheck);
    return instance;
  }

  /** Closes the instance (tests; the Functions host ends the process instead). */
  static synchronized void stop() {
    TandemApp a = instance;
    instance = null;
    if (a != null) {
      a.replication.close();
      a.store.close();
      a.dlqProducer.close(Duration.ofSeconds(5));
      if (a.recheckSender != null) {
        a.recheckSender.close();
      }
    }
  }
}
