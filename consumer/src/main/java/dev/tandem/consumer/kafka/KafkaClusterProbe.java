package dev.tandem.consumer.kafka;

import dev.tandem.consumer.ownership.BrokerProbe;
import dev.tandem.consumer.ownership.OwnerLiveness;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeClusterOptions;

/**
 * The liveness probe of a Kafka cluster an owner consumes from through something other than its own
 * poll loop — a Kafka trigger of a function app whose cluster is not the changelog's ({@link
 * OwnerLiveness}): one {@code describeCluster} request through an {@link Admin} client, bounded by
 * the round's timeout. The caller owns (and closes) the client.
 */
public final class KafkaClusterProbe implements BrokerProbe {

  private final String name;
  private final Admin admin;

  private KafkaClusterProbe(String name, Admin admin) {
    this.name = name;
    this.admin = admin;
  }

  /** A probe named {@code kafka:<cluster>} asking {@code admin}'s cluster. */
  public static KafkaClusterProbe of(String cluster, Admin admin) {
    Objects.requireNonNull(cluster, "cluster");
    return new KafkaClusterProbe("kafka:" + cluster, Objects.requireNonNull(admin, "admin"));
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public boolean answers(Duration timeout) {
    int ms = (int) Math.min(Integer.MAX_VALUE, Math.max(1, timeout.toMillis()));
    try {
      admin.describeCluster(new DescribeClusterOptions().timeoutMs(ms)).nodes()
          .get(ms, TimeUnit.MILLISECONDS);
      return true;
    } catch (ExecutionException e) {
      throw new IllegalStateException(String.valueOf(e.getCause()), e.getCause());
    } catch (TimeoutException e) {
      throw new IllegalStateException("no answer within " + timeout);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while probing", e);
    }
  }
}
