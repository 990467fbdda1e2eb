package dev.tandem.consumer.ownership;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ownership request topic of one region: {@code <tandem.changelog.topic.prefix>.ownership} in that
 * region's own cluster, one partition (one order for requests and their results), deleted after
 * {@link #RETENTION} (a request lives for its deadline only), created by whichever side needs it
 * first. A daemon thread reads it from the
 * beginning — so a restarted process sees the results already written and acts on no (request, shard)
 * twice — and {@link #poll()} hands over what it read without blocking.
 *
 * <p>Made from the region's client properties (security included), so it reaches whatever the
 * region's changelog reaches.
 */
public final class KafkaOwnershipChannel implements OwnershipRequestChannel {

  private static final Logger log = LoggerFactory.getLogger(KafkaOwnershipChannel.class);

  /** How long the topic keeps records: far longer than any request's deadline. */
  public static final Duration RETENTION = Duration.ofHours(1);

  private final String topic;
  /** Creates the topic unless it exists ({@link #ensureTopic}); a no-op in tests. */
  private final Runnable ensureTopic;
  private final Consumer<String, String> consumer;
  private final Producer<String, String> producer;
  private final ConcurrentLinkedQueue<Object> arrived = new ConcurrentLinkedQueue<>();
  private final Thread reader;
  private volatile boolean running = true;
  private volatile boolean requested;
  /** Whether the reader has read every record written before it opened. */
  private volatile boolean caughtUp;
  /** Why the reader stopped for good (null while it reads, or after a close). */
  private volatile Throwable failure;

  /** The request topic of a deployment whose changelog topics start with {@code changelogPrefix}. */
  public static String topicFor(String changelogPrefix) {
    return changelogPrefix + ".ownership";
  }

  /**
   * Opens the channel (creates the topic if it does not exist, starts reading it).
   *
   * @param clientProps the region's Kafka client properties (bootstrap servers, security)
   * @param clientId a client id prefix naming this process
   */
  public KafkaOwnershipChannel(Properties clientProps, String topic, String clientId) {
    this(clientConsumer(clientProps, clientId), clientProducer(clientProps, clientId), topic,
        clientId, () -> ensureTopic(clientProps, topic));
  }

  /**
   * The channel on given clients (tests: Kafka's {@code MockConsumer}); {@code ensureTopic} runs on
   * the reader thread before it reads, and before the first request is written.
   */
  KafkaOwnershipChannel(Consumer<String, String> consumer, Producer<String, String> producer,
      String topic, String clientId, Runnable ensureTopic) {
    this.topic = topic;
    this.ensureTopic = ensureTopic;
    this.consumer = consumer;
    this.producer = producer;
    reader = new Thread(this::read, "tandem-ownership-requests-" + clientId);
    reader.setDaemon(true);
    reader.start();
  }

  private static KafkaConsumer<String, String> clientConsumer(Properties clientProps,
      String clientId) {
    Properties cp = new Properties();
    cp.putAll(clientProps);
    cp.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId + "-ownership-reader");
    cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    cp.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
    cp.remove(ConsumerConfig.GROUP_ID_CONFIG); // assigned, never in a group
    cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    return new KafkaConsumer<>(onlyKnown(cp, ConsumerConfig.configNames()));
  }

  private static KafkaProducer<String, String> clientProducer(Properties clientProps,
      String clientId) {
    Properties pp = new Properties();
    pp.putAll(clientProps);
    pp.put(ProducerConfig.CLIENT_ID_CONFIG, clientId + "-ownership-writer");
    pp.put(ProducerConfig.ACKS_CONFIG, "all");
    pp.put(ProducerConfig.LINGER_MS_CONFIG, "0");
    pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    return new KafkaProducer<>(onlyKnown(pp, ProducerConfig.configNames()));
  }

  /** Client properties other than {@code names} dropped (the region's map holds tandem keys too). */
  private static Properties onlyKnown(Properties p, java.util.Set<String> names) {
    Properties out = new Properties();
    for (String k : p.stringPropertyNames()) {
      if (names.contains(k) || k.startsWith("sasl.") || k.startsWith("ssl.")) {
        out.put(k, p.get(k));
      }
    }
    return out;
  }

  /** Creates {@code topic} (one partition, the broker's replication factor) unless it exists. */
  public static void ensureTopic(Properties clientProps, String topic) {
    Properties ap = new Properties();
    ap.putAll(onlyKnown(clientProps, AdminClientConfig.configNames()));
    Admin admin = Admin.create(ap);
    try {
      NewTopic t = new NewTopic(topic, Optional.of(1), Optional.empty()).configs(Map.of(
          TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_DELETE,
          TopicConfig.RETENTION_MS_CONFIG, Long.toString(RETENTION.toMillis())));
      admin.createTopics(List.of(t)).all().get(10, TimeUnit.SECONDS);
      log.info("Tandem created the ownership request topic {}", topic);
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) {
        log.warn("Tandem could not create the ownership request topic {}: {}", topic,
            e.getCause().toString());
      }
    } catch (TimeoutException e) {
      log.warn("Tandem could not create the ownership request topic {} within 10 s", topic);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      admin.close(Duration.ofSeconds(1)); // never wait out a call to a broker that is down
    }
  }

  private void read() {
    try {
      // on this thread, not the caller's: a region whose broker is down must still start its
      // consumers at once (the topic is created when the broker answers; reading waits for it)
      ensureTopic.run();
      TopicPartition tp = new TopicPartition(topic, 0);
      consumer.assign(List.of(tp));
      consumer.seekToBeginning(List.of(tp));
      // what was written before this reader opened (results of earlier runs) is read before
      // anything is acted on (caughtUp)
      long end = -1;
      while (running && end < 0) {
        try {
          end = consumer.endOffsets(List.of(tp), Duration.ofSeconds(5)).getOrDefault(tp, 0L);
        } catch (org.apache.kafka.common.errors.TimeoutException e) {
          log.debug("Tandem waits for the end of {}: {}", topic, e.toString());
        }
      }
      caughtUp = end <= 0;
      while (running) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
          try {
            arrived.add(OwnershipRecords.decode(r.value()));
          } catch (RuntimeException e) {
            log.warn("Tandem skips record {} of {} at offset {}: {}", r.key(), topic, r.offset(),
                e.getMessage());
          }
        }
        if (!caughtUp) {
          try {
            // set only after the records read so far are queued: a caller that saw it true
            // before draining the queue has every record written before this reader opened
            caughtUp = consumer.position(tp, Duration.ofSeconds(5)) >= end;
          } catch (org.apache.kafka.common.errors.TimeoutException e) {
            log.debug("Tandem waits for its position in {}: {}", topic, e.toString());
          }
        }
      }
    } catch (WakeupException e) {
      // closing
    } catch (Throwable e) {
      if (running) {
        // fatal for this reader (not authorized to read the topic, a bad configuration, an Error):
        // no request is read, none is acted on; recorded for failure() so the owner's meter and
        // its region's health show it, not only this line
        failure = e;
        log.error("Tandem stopped reading the ownership request topic {}: remote ownership requests"
            + " (evacuate, return, move) are NOT acted on by this process until it restarts; "
            + "they are reported NOT_ANSWERED to the operator", topic, e);
      }
      if (e instanceof Error err) {
        throw err;
      }
    } finally {
      consumer.close(Duration.ofSeconds(1));
    }
  }

  @Override
  public List<Object> poll() {
    List<Object> out = new ArrayList<>();
    for (Object o; (o = arrived.poll()) != null; ) {
      out.add(o);
    }
    return out;
  }

  @Override
  public boolean caughtUp() {
    return caughtUp;
  }

  @Override
  public java.util.Optional<Throwable> failure() {
    return java.util.Optional.ofNullable(failure);
  }

  @Override
  public void answer(OwnershipResult result) {
    send(result.key(), result.encode());
  }

  @Override
  public long request(OwnershipRequest request) {
    if (!requested) {
      // the admin's first request may come before any owner made the topic: create it with its
      // settings, not the broker's auto-created defaults
      ensureTopic.run();
      requested = true;
    }
    return send(request.key(), request.encode()).offset();
  }

  private RecordMetadata send(String key, String value) {
    try {
      return producer.send(new ProducerRecord<>(topic, 0, key, value)).get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw new IllegalStateException("could not write to " + topic + ": " + e.getCause(), e);
    } catch (TimeoutException e) {
      throw new IllegalStateException("could not write to " + topic + " within 10 s", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted writing to " + topic, e);
    }
  }

  @Override
  public void close() {
    running = false;
    consumer.wakeup();
    try {
      reader.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    producer.close(Duration.ofSeconds(2));
  }
}
