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

  /**
   * Stops both regions at the same time: each cluster's shutdown waits on its own broker and
   * controller (about five seconds each), not on the CPU, so one after the other cost a test class
   * the sum of both. Both are stopped even if one throws; the first failure is thrown with the
   * other's suppressed. Returns after both stopped (no thread or port is left behind).
   */
  @Override
  public void close() {
    closeBoth(a, b);
  }

  /**
   * Closes {@code second} on its own thread while {@code first} closes on the caller's, waits for
   * both, then throws the first failure (the other suppressed). Package-private for its test.
   */
  static void closeBoth(AutoCloseable first, AutoCloseable second) {
    Throwable[] secondFailure = new Throwable[1];
    Thread t = new Thread(() -> {
      try {
        second.close();
      } catch (Throwable e) {
        secondFailure[0] = e;
      }
    }, "tandem-close-" + second);
    t.setDaemon(true); // never keeps a JVM alive; joined below in any case
    t.start();
    Throwable failure = null;
    try {
      first.close();
    } catch (Throwable e) {
      failure = e;
    }
    boolean interrupted = false;
    while (true) {
      try {
        t.join(); // the second close must end before this returns: its ports and threads too
        break;
      } catch (InterruptedException e) {
        interrupted = true; // keep waiting: returning now would leak a running cluster shutdown
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    if (secondFailure[0] != null) {
      if (failure == null) {
        failure = secondFailure[0];
      } else {
        failure.addSuppressed(secondFailure[0]);
      }
    }
    if (failure instanceof RuntimeException r) {
      throw r;
    }
    if (failure instanceof Error err) {
      throw err;
    }
    if (failure != null) {
      throw new IllegalStateException("closing the regions failed", failure);
    }
  }
}
