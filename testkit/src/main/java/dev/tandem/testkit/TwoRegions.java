package dev.tandem.testkit;

import java.util.List;

/**
 * Two regions, {@code region-a} and {@code region-b}, each its own single-node KRaft cluster in this
 * JVM. Start once per test class ({@code @BeforeAll}) and close in {@code @AfterAll}: a start costs
 * about three seconds on a 2-core machine.
 */
public final class TwoRegions implements AutoCloseable {

  private final KafkaRegion a;
  private final KafkaRegion b;

  private TwoRegions(KafkaRegion a, KafkaRegion b) {
    this.a = a;
    this.b = b;
  }

  /** Starts both regions (in parallel). */
  public static TwoRegions start() {
    return start("region-a", "region-b");
  }

  /** Starts two regions with the given names (in parallel). */
  public static TwoRegions start(String nameA, String nameB) {
    var futureB = java.util.concurrent.CompletableFuture.supplyAsync(() -> KafkaRegion.start(nameB));
    KafkaRegion a;
    try {
      a = KafkaRegion.start(nameA);
    } catch (RuntimeException e) {
      futureB.thenAccept(KafkaRegion::close);
      throw e;
    }
    return new TwoRegions(a, futureB.join());
  }

  public KafkaRegion a() {
    return a;
  }

  public KafkaRegion b() {
    return b;
  }

  public List<KafkaRegion> both() {
    return List.of(a, b);
  }

  /** Creates the topic with the same partition count in both regions. */
  public void createTopic(String topic, int partitions) {
    a.createTopic(topic, partitions);
    b.createTopic(topic, partitions);
  }

  @Override
  public void close() {
    try {
      a.close();
    } finally {
      b.close();
    }
  }
}
