package dev.tandem.consumer;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import dev.tandem.testkit.junit.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The root README's "Using it with Kafka" snippets, run as a newcomer runs them: the producer and
 * interceptor properties blocks exactly as printed, with only the placeholders a user replaces (the
 * two clusters' addresses, the directories, the region of the second process) and a changelog topic
 * prefix and consumer group of the test's own (clusters are shared with other classes of the JVM). Kafka's own {@code
 * KafkaConsumer} and the properties-built {@code TandemKafkaProducer}, no Tandem code in between.
 * Region A consumes and commits every record; region B then drops every one (completed in A). Before
 * the consumer snippet carried its own {@code bootstrap.servers}, {@code group.id} and deserializers,
 * a consumer built from it failed ("No resolvable bootstrap urls given in bootstrap.servers").
 */
@TandemClusters
class ReadmeKafkaSnippetsTest {

  static TwoRegions regions;

  @Test
  void theReadmeProducerAndInterceptorSnippetsDropInRegionBWhatRegionACompleted(@TempDir Path dir)
      throws Exception {
    Path readme = Path.of("..", "README.md");
    String producerBlock = null;
    String consumerBlock = null;
    for (String block : ConfigDocsTest.propertiesBlocks(readme)) {
      if (block.contains("interceptor.classes=")) {
        consumerBlock = block;
      } else if (block.contains("tandem.spool.dir=")) {
        producerBlock = block;
      }
    }
    assertTrue(producerBlock != null && consumerBlock != null, "README snippets found");
    String topic = Topics.fresh("readme-orders");
    String prefix = Topics.fresh("readme");
    String group = Topics.fresh("readme-group");
    int shards = Integer.parseInt(ConfigDocsTest.load(consumerBlock).getProperty("tandem.shards"));
    regions.createTopic(topic, shards);

    Properties producerProps = ConfigDocsTest.load(user(producerBlock, dir, "producer"));
    int n = 30;
    try (Producer<String, String> producer = new TandemKafkaProducer<>(producerProps)) {
      for (int i = 0; i < n; i++) {
        ProducerRecord<String, String> r = new ProducerRecord<>(topic, "k" + i, "order " + i);
        r.headers().add("tandem-id", ("readme-" + i).getBytes(StandardCharsets.UTF_8));
        producer.send(r).get();
      }
    }

    Properties a = ConfigDocsTest.load(user(consumerBlock, dir, "a"));
    Properties b = ConfigDocsTest.load(user(consumerBlock, dir, "b")
        .replace("tandem.region=westeurope", "tandem.region=northeurope")
        .replace("bootstrap.servers=" + regions.a().bootstrapServers() + "\n",
            "bootstrap.servers=" + regions.b().bootstrapServers() + "\n"));
    for (Properties p : List.of(a, b)) {
      p.setProperty("tandem.changelog.topic.prefix", prefix);
      p.setProperty("group.id", group); // clusters shared with the JVM's other classes
    }
    assertEquals(regions.a().bootstrapServers(), a.getProperty("bootstrap.servers"),
        "the snippet names its consumer's own cluster (bootstrap.servers)");
    assertEquals(regions.b().bootstrapServers(), b.getProperty("bootstrap.servers"));
    assertEquals("northeurope", b.getProperty("tandem.region"));

    List<String> inA;
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(a)) {
      inA = consumeToEnd(consumer, topic, shards, true);
    }
    assertEquals(n, inA.size(), "region A handed every record to the application once: " + inA);
    // B commits nothing: a commit would complete in B's own store whatever B handed over (the
    // interceptor's onCommit), and offsets committed by one attempt would leave the next nothing to
    // read; either would let a retry pass although B dropped nothing (review s9-r R2). So every
    // attempt reads the topic from the start (no committed offset, auto.offset.reset=earliest), and
    // only a drop by B's replica (A's completions applied from A's changelog) empties the list.
    b.setProperty("enable.auto.commit", "false");
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(b)) {
      await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
        consumer.unsubscribe();
        consumer.subscribe(List.of(topic));
        List<String> inB = consumeToEnd(consumer, topic, shards, false);
        assertEquals(List.of(), inB, "region B handed copies region A had completed");
      });
      assertTrue(consumer.committed(consumer.assignment()).values().stream().allMatch(o -> o == null),
          "B committed nothing, so the last attempt read every record from the start");
    }
  }

  /** The snippet with what a user replaces: the clusters' addresses and the directories. */
  private static String user(String block, Path dir, String process) {
    return block
        .replace("kafka-we:9092", regions.a().bootstrapServers())
        .replace("kafka-ne:9092", regions.b().bootstrapServers())
        .replace("kafka-ne:9093", regions.b().bootstrapServers())
        .replace("/var/lib/app/tandem-spool", dir.resolve(process + "-spool").toString().replace('\\', '/'))
        .replace("/var/lib/app/tandem", dir.resolve(process).toString().replace('\\', '/'));
  }

  /** Polls until every partition is read to its end, committing after each poll if {@code commit}. */
  private static List<String> consumeToEnd(KafkaConsumer<String, String> c, String topic, int partitions,
      boolean commit) {
    List<String> ids = new ArrayList<>();
    if (c.subscription().isEmpty()) {
      c.subscribe(List.of(topic));
    }
    await().atMost(Duration.ofSeconds(45)).pollInterval(Duration.ZERO).until(() -> {
      for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
        ids.add(new String(r.headers().lastHeader("tandem-id").value(), StandardCharsets.UTF_8));
      }
      if (commit) {
        c.commitSync();
      }
      Set<TopicPartition> assigned = c.assignment();
      if (assigned.size() < partitions) {
        return false;
      }
      Map<TopicPartition, Long> ends = c.endOffsets(assigned);
      for (TopicPartition tp : assigned) {
        if (c.position(tp) < ends.get(tp)) {
          return false;
        }
      }
      return true;
    });
    return ids;
  }
}
