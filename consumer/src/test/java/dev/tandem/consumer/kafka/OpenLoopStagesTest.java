package dev.tandem.consumer.kafka;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.store.IdRecord;
import dev.tandem.store.Phase;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerInterceptor;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 20 diagnostic: where a message's time goes between the publish call and the follower's
 * acknowledgement at a modest open-loop rate (200/s for 5 s) on a real region pair built like the
 * end-to-end benchmark's (TandemRegion defaults: W 1000, heartbeat 1 s). Per message, on one
 * monotonic clock ({@code System.nanoTime}, producer and both regions in this JVM): publish call, the
 * owner's poll returning it (a consumer interceptor), the owner's handler start, the owner's
 * COMPLETED written locally, the COMPLETED applied in the follower's store, the follower's poll
 * returning its copy, the follower's acknowledgement (its offset commit). Prints the median and p99
 * of each stage: timings here are inflated by whatever else runs on the machine, but a fixed wait
 * (a poll timeout, a linger, a pause) shows as a stage much longer than its work. Asserts only what
 * the run must give regardless of timing: every message handled once, by its owner.
 *
 * <p>A diagnostic, not a CI test (it proves nothing timing-independent the other real-cluster tests do
 * not, and CI time is short): run it with {@code -Dtandem.diagnostics=true}, e.g. {@code mvn -B -o -q
 * -pl consumer -am test -Dtest=OpenLoopStagesTest -Dsurefire.failIfNoSpecifiedTests=false
 * -Dtandem.diagnostics=true}.
 */
@TandemClusters
@EnabledIfSystemProperty(named = "tandem.diagnostics", matches = "true")
class OpenLoopStagesTest {

  static TwoRegions regions;

  static final int RATE = 200;
  static final int SECONDS = 5;

  /** Per message id: stage -> nanoTime. */
  static final Map<String, long[]> STAGES = new ConcurrentHashMap<>();
  static final int PUBLISH = 0;
  static final int OWNER_POLLED = 1;
  static final int HANDLER = 2;
  static final int COMPLETED_LOCAL = 3;
  static final int APPLIED_FOLLOWER = 4;
  static final int FOLLOWER_POLLED = 5;
  static final String[] NAMES = {"publish", "owner.polled", "handler", "completed.local",
      "applied.follower", "follower.polled"};
  /** Per region index: id -> nanoTime its copy was polled there. */
  static final List<Map<String, Long>> POLLED =
      List.of(new ConcurrentHashMap<>(), new ConcurrentHashMap<>());
  static final AtomicLong POLLS = new AtomicLong();
  static final AtomicLong POLLED_RECORDS = new AtomicLong();

  /** Stamps when a copy was returned by poll (Kafka calls onConsume inside poll). */
  public static final class PollStamp implements ConsumerInterceptor<byte[], byte[]> {
    static final String INDEX = "stages.region.index";
    private int index;

    @Override
    public void configure(Map<String, ?> configs) {
      index = Integer.parseInt(configs.get(INDEX).toString());
    }

    @Override
    public ConsumerRecords<byte[], byte[]> onConsume(ConsumerRecords<byte[], byte[]> records) {
      long now = System.nanoTime();
      if (!records.isEmpty()) {
        POLLS.incrementAndGet();
        POLLED_RECORDS.addAndGet(records.count());
      }
      for (ConsumerRecord<byte[], byte[]> r : records) {
        Header h = r.headers().lastHeader(TandemHeaders.ID);
        if (h != null) {
          POLLED.get(index).putIfAbsent(new String(h.value(), StandardCharsets.UTF_8), now);
        }
      }
      return records;
    }

    @Override
    public void onCommit(Map<TopicPartition, OffsetAndMetadata> offsets) {}

    @Override
    public void close() {}
  }

  @Test
  void stagesOfOneMessageAtAModestOpenLoopRate(@TempDir Path dir) throws Exception {
    String topic = "open-loop-stages";
    RegionFiles.createTopics(regions, topic);
    Map<String, Integer> owner = new ConcurrentHashMap<>();
    AtomicLong runs = new AtomicLong();
    List<TandemRegion> opened = new ArrayList<>();
    try {
      for (String r : List.of("region-a", "region-b")) {
        int index = r.equals("region-a") ? 0 : 1;
        // as the benchmark: the defaults of TandemRegion (W 1000, heartbeat 1 s, the pollTimeout)
        TandemRegion region = TandemRegion.create(TandemRegion.load(RegionFiles.write(dir, regions,
            r, "stages", "tandem.replication.window=1000", "group.id=stages")));
        opened.add(region);
        region.store().addListener(new StoreListener() {
          @Override
          public void onRecord(IdRecord record, WriteOrigin origin) {
            if (record.phase() != Phase.COMPLETED) {
              return;
            }
            long now = System.nanoTime();
            long[] s = STAGES.get(record.id());
            if (s == null) {
              return;
            }
            if (origin == WriteOrigin.LOCAL) {
              s[COMPLETED_LOCAL] = now;
            } else {
              s[APPLIED_FOLLOWER] = now;
            }
          }
        });
        TandemKafkaConsumer<String, byte[]> c = region.kafkaConsumer(topic,
            new StringDeserializer(), new ByteArrayDeserializer(), (rec, ctx) -> {
              long now = System.nanoTime();
              long[] s = STAGES.get(ctx.id());
              if (s != null) {
                s[HANDLER] = now;
              }
              owner.put(ctx.id(), index);
              runs.incrementAndGet();
            },
            Map.of(ConsumerConfig.INTERCEPTOR_CLASSES_CONFIG, PollStamp.class.getName(),
                PollStamp.INDEX, Integer.toString(index)),
            b -> {});
        c.start();
      }
      try (TandemKafkaProducer<String, byte[]> producer =
          Publishing.producer(regions, dir.resolve("pub"))) {
        // warm-up: the group joins, leases and restores happen before the measured messages
        List<String> warm = send(producer, topic, "warm", 50, 0);
        await().atMost(Duration.ofSeconds(60)).until(() -> owner.keySet().containsAll(warm));
        POLLS.set(0);
        POLLED_RECORDS.set(0);
        int n = RATE * SECONDS;
        List<String> ids = send(producer, topic, "m", n, TimeUnit.SECONDS.toNanos(1) / RATE);
        await().atMost(Duration.ofSeconds(60)).until(() -> ids.stream().allMatch(id -> {
          long[] s = STAGES.get(id);
          return s[HANDLER] != 0 && s[APPLIED_FOLLOWER] != 0;
        }));
        for (String id : ids) {
          Integer o = owner.get(id);
          Long f = POLLED.get(1 - o).get(id);
          if (f != null) {
            STAGES.get(id)[FOLLOWER_POLLED] = f;
          }
          STAGES.get(id)[OWNER_POLLED] = POLLED.get(o).get(id);
        }
        System.out.printf("open-loop stages, %d/s for %d s (%d messages); polls with records %d, "
            + "records per poll %.1f%n", RATE, SECONDS, n, POLLS.get(),
            POLLS.get() == 0 ? 0.0 : (double) POLLED_RECORDS.get() / POLLS.get());
        stage(ids, "publish -> owner polled (fetch)", PUBLISH, OWNER_POLLED);
        stage(ids, "owner polled -> handler start (claims durable, loop)", OWNER_POLLED, HANDLER);
        stage(ids, "handler start -> COMPLETED written locally", HANDLER, COMPLETED_LOCAL);
        stage(ids, "COMPLETED local -> applied in follower (replication)", COMPLETED_LOCAL,
            APPLIED_FOLLOWER);
        stage(ids, "publish -> handler start (e2e)", PUBLISH, HANDLER);
        stage(ids, "publish -> follower polled", PUBLISH, FOLLOWER_POLLED);
        stage(ids, "follower polled -> COMPLETED applied (follower added, 0 if first)",
            FOLLOWER_POLLED, -APPLIED_FOLLOWER);
        assertEquals(n, ids.stream().filter(owner::containsKey).count(), "every message handled");
        assertEquals(n + warm.size(), runs.get(), "each message once (no fault)");
        assertTrue(ids.stream().allMatch(id -> STAGES.get(id)[OWNER_POLLED] != 0),
            "the owner's poll stamped every message");
      }
    } finally {
      for (TandemRegion r : opened) {
        r.close();
      }
    }
  }

  private static List<String> send(TandemKafkaProducer<String, byte[]> producer, String topic,
      String prefix, int n, long periodNanos) {
    List<String> ids = new ArrayList<>();
    long next = System.nanoTime();
    for (int i = 0; i < n; i++) {
      long wait;
      while ((wait = next - System.nanoTime()) > 0) {
        LockSupport.parkNanos(wait);
      }
      next += periodNanos;
      String id = prefix + "-" + i;
      long[] s = new long[NAMES.length];
      STAGES.put(id, s);
      ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, "key-" + i,
          ByteBuffer.allocate(8).putLong(System.nanoTime()).array());
      r.headers().add(TandemHeaders.ID, id.getBytes(StandardCharsets.UTF_8));
      s[PUBLISH] = System.nanoTime();
      producer.send(r);
      ids.add(id);
    }
    return ids;
  }

  /** Prints p50/p99 (ms) of to - from over ids; a negative {@code to}: clamped at 0 (applied first). */
  private static void stage(List<String> ids, String name, int from, int to) {
    boolean clamp = to < 0;
    int t = Math.abs(to);
    long[] d = ids.stream().map(STAGES::get).filter(s -> s[from] != 0 && s[t] != 0)
        .mapToLong(s -> clamp ? Math.max(0, s[t] - s[from]) : s[t] - s[from]).sorted().toArray();
    if (d.length == 0) {
      System.out.printf("  %-70s no samples%n", name);
      return;
    }
    System.out.printf("  %-70s p50 %7.1f ms  p90 %7.1f ms  p99 %7.1f ms  (n=%d)%n", name,
        d[d.length / 2] / 1e6, d[(int) (d.length * 0.9)] / 1e6, d[(int) (d.length * 0.99)] / 1e6,
        d.length);
  }
}
