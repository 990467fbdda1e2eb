package dev.tandem.consumer.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.testkit.KafkaRegion;
import java.time.Duration;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.Test;

/**
 * The probe of a Kafka trigger's cluster against one real KRaft cluster: it answers while the broker
 * runs, and reports "did not answer" within the round's timeout while it is stopped.
 */
class KafkaClusterProbeTest {

  @Test
  void answersWhileTheBrokerRunsAndNotWithinTheTimeoutWhileItIsStopped() {
    try (KafkaRegion region = KafkaRegion.start("trigger-cluster");
        Admin admin = region.admin()) {
      KafkaClusterProbe p = KafkaClusterProbe.of("orders-trigger", admin);
      assertEquals("kafka:orders-trigger", p.name());
      assertTrue(p.answers(Duration.ofSeconds(10)));
      region.stopBroker();
      long t0 = System.nanoTime();
      assertThrows(IllegalStateException.class, () -> p.answers(Duration.ofSeconds(1)));
      assertTrue(Duration.ofNanos(System.nanoTime() - t0).compareTo(Duration.ofSeconds(5)) < 0,
          "bounded by the timeout");
    }
  }
}
