package dev.tandem.testkit;

import java.util.List;

/**
 * Two regions, {@code region-a} and {@code region-b}, each its own single-node KRaft cluster in this
 * JVM. In JUnit tests, annotate the class {@link dev.tandem.testkit.junit.TandemClusters} instead of
 * starting them yourself: one pair per test JVM (or per class, for classes that stop or partition a
 * broker), injected into {@code TwoRegions} fields and parameters. A start costs about three seconds
 * on a 2-core machine.
 *
 * <p>A network partition: clients that reach the other region do so through {@link
 * #peerBootstrapServers(KafkaRegion)} (that region's {@link RegionLink}); {@link #cutLink()} cuts
 * both links, {@link #healLink()} heals them. Both brokers stay up, and every client on a region's
 * direct {@link KafkaRegion#bootstrapServers()} (its own consumers, publishers) keeps working.
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
    return start(nameA, KafkaRegion.Security.PLAINTEXT, nameB, KafkaRegion.Security.PLAINTEXT);
  }

  /**
   * Starts two regions with the given names and client listener security (in parallel), e.g. region
   * B as a SASL_SSL-only cluster like Event Hubs' Kafka endpoint ({@link
   * KafkaRegion#clientSecurity()} gives its clients' settings).
   */
  public static TwoRegions start(String nameA, KafkaRegion.Security securityA, String nameB,
      KafkaRegion.Security securityB) {
    var futureB = java.util.concurrent.CompletableFuture.supplyAsync(
        () -> KafkaRegion.start(nameB, securityB, java.util.Map.of()));
    KafkaRegion a;
    try {
      a = KafkaRegion.start(nameA, securityA, java.util.Map.of());
    } catch (RuntimeException e) {
      futureB.thenAccept(KafkaRegion::close);
      throw e;
    }
    return new TwoRegions(a, futureB.join());
  }

  /** Region A ({@code region-a} by default). */
  public KafkaRegion a() {
    return a;
  }

  /** Region B ({@code region-b} by default). */
  public KafkaRegion b() {
    return b;
  }

  /** Both regions, A first. */
  public List<KafkaRegion> both() {
    return List.of(a, b);
  }

  /**
   * Where a client running in the other region reaches {@code target}'s broker: through {@code
   * target}'s link, which {@link #cutLink()} cuts. Same as {@code target.linkBootstrapServers()}.
   */
  public String peerBootstrapServers(KafkaRegion target) {
    if (target != a && target != b) {
      throw new IllegalArgumentException(target + " is not one of " + both());
    }
    return target.linkBootstrapServers();
  }

  /**
   * A partition both ways: cuts the links into both regions, closing every open connection through
   * them and refusing new ones. NOT cut: the brokers, and every client on a direct {@link
   * KafkaRegion#bootstrapServers()} address.
   */
  public void cutLink() {
    a.link().cut();
    b.link().cut();
  }

  /** Heals the partition: both links forward new connections again (clients reconnect). */
  public void healLink() {
    a.link().heal();
    b.link().heal();
  }

  /** Whether both links are cut. */
  public boolean isLinkCut() {
    return a.link().isCut() && b.link().isCut();
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
