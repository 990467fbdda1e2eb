package dev.tandem.examples.functions;

import dev.tandem.azure.functions.IdempotentHttp;
import dev.tandem.azure.functions.TandemFunctions;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.kafka.KafkaDeadLetterSink;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.KafkaReplicationLog;
import java.time.Duration;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The one Tandem instance of this function app's process: the RocksDB store on the instance's disk,
 * restored from and replicated through both regions' changelog topics, the once-processor and the
 * HTTP idempotency. Built on first use: by a function, or by the middleware through {@link
 * TandemProvider}.
 */
final class TandemApp {

  private static volatile TandemApp instance;

  final TandemSettings settings;
  final IdempotencyStore store;
  final KafkaReplicationLog replication;
  final OnceProcessor processor;
  final IdempotentHttp http;

  private TandemApp(TandemSettings s) {
    this.settings = s;
    String instanceName = System.getenv().getOrDefault("WEBSITE_INSTANCE_ID", "local");
    this.store = IdempotencyStore.builder().region(s.region())
        .instance(instanceName.length() > 64 ? instanceName.substring(0, 64) : instanceName)
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
    this.processor = OnceProcessor.builder()
        .store(replication.replicatedStore())
        .deadLetterSink(KafkaDeadLetterSink.create(dlq, s.region(), "orders.tandem-dlq"))
        .claimLease(Duration.ofMinutes(6)) // above functionTimeout (host.json)
        .build();
    this.http = IdempotentHttp.builder().store(replication.replicatedStore()).shardCount(s.shards())
        .build();
  }

  /** What {@link TandemProvider} installs for the middleware and {@code TandemFunctions.once}. */
  TandemFunctions.Builder functions() {
    return TandemFunctions.builder().processor(processor).shardCount(settings.shards());
  }

  static TandemApp get() {
    TandemApp a = instance;
    if (a == null) {
      synchronized (TandemApp.class) {
        a = instance;
        if (a == null) {
          a = new TandemApp(TandemSettings.fromEnvironment());
          instance = a;
        }
      }
    }
    return a;
  }
}
