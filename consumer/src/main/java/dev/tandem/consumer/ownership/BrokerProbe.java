package dev.tandem.consumer.ownership;

import java.time.Duration;
import java.util.Objects;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

/**
 * A cheap request to one broker an owner depends on, asked by {@link OwnerLiveness} before it
 * renews its shard leases: this region's changelog broker, and the broker of every trigger the
 * application consumes from (a Kafka cluster, a Service Bus namespace). An owner renews only while
 * every one of its probes answers, so a region that can no longer receive (or record) the messages
 * of its shards goes silent and the other region takes them over.
 *
 * <p>A probe answers {@code true} when the broker answered within {@code timeout}; {@code false}
 * or an exception (whose message is reported) means it did not. It must return within about {@code
 * timeout}: a probe that can block longer runs its request elsewhere and waits boundedly.
 */
public interface BrokerProbe {

  /** The probe's name in reports, logs and the {@code probe} tag of its meter (unique per owner). */
  String name();

  /**
   * Whether the broker answered a request within {@code timeout}.
   *
   * @throws RuntimeException counted as "did not answer", its message becomes the reason
   */
  boolean answers(Duration timeout);

  /** A probe named {@code name} that asks {@code answers} with the timeout. */
  static BrokerProbe of(String name, Predicate<Duration> answers) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(answers, "answers");
    if (name.isBlank()) {
      throw new IllegalArgumentException("a broker probe needs a name");
    }
    return new BrokerProbe() {
      @Override
      public String name() {
        return name;
      }

      @Override
      public boolean answers(Duration timeout) {
        return answers.test(timeout);
      }

      @Override
      public String toString() {
        return "BrokerProbe[" + name + "]";
      }
    };
  }

  /**
   * A probe named {@code name} that bounds its own request (the timeout is not passed on). Named
   * apart from {@link #of} so that a method reference picks one without a cast.
   */
  static BrokerProbe selfBounded(String name, BooleanSupplier answers) {
    Objects.requireNonNull(answers, "answers");
    return of(name, timeout -> answers.getAsBoolean());
  }
}
