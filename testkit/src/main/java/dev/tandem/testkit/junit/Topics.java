package dev.tandem.testkit.junit;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Fresh names for topics, consumer groups and changelog prefixes on regions shared by many test
 * classes ({@link TandemClusters}): each call returns a name no earlier call in this JVM returned,
 * so a test never reads another test's leftovers.
 */
public final class Topics {

  private static final AtomicLong SEQUENCE = new AtomicLong();

  private Topics() {}

  /**
   * {@code base} followed by a JVM-wide sequence number, e.g. {@code orders-17}. Only characters
   * Kafka allows in a topic name are kept ({@code [a-zA-Z0-9._-]}; others become {@code -}).
   */
  public static String fresh(String base) {
    if (base == null || base.isBlank()) {
      throw new IllegalArgumentException("a fresh name needs a non-blank base, got '" + base + "'");
    }
    String clean = base.replaceAll("[^a-zA-Z0-9._-]", "-");
    return clean + "-" + SEQUENCE.incrementAndGet();
  }
}
