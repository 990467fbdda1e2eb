package dev.tandem.publisher;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.ProducerConfig;

/**
 * Child-JVM publisher for the crash test: publishes {@code crash-0, crash-1, ...} under ANY to two
 * regions, one at a time, and prints {@code ACKED <id> <spooled regions>} after each acknowledgement,
 * until it is killed. Args: bootstrapA bootstrapB topic partitions spoolDir.
 */
public final class SpoolingPublisherMain {

  private SpoolingPublisherMain() {}

  public static void main(String[] args) throws Exception {
    String topic = args[2];
    int partitions = Integer.parseInt(args[3]);
    DualPublisher publisher = DualPublisher.builder()
        .sink(KafkaRegionalSink.create(TestRegions.A, props(args[0])))
        .sink(KafkaRegionalSink.create(TestRegions.B, props(args[1])))
        .ackPolicy(AckPolicy.ANY)
        .timeout(Duration.ofMillis(1500))
        .spoolDirectory(Path.of(args[4]))
        .build();
    System.out.println("STARTED");
    for (int i = 0; ; i++) {
      OutboundMessage m = OutboundMessage.builder(topic, i % partitions)
          .id("crash-" + i)
          .value(("payload-" + i).getBytes(StandardCharsets.UTF_8))
          .build();
      PublishResult r = publisher.publish(m).get(60, TimeUnit.SECONDS);
      System.out.println("ACKED " + r.id() + " " + r.spooled());
    }
  }

  private static Properties props(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.LINGER_MS_CONFIG, "1");
    p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "1000");
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "2000");
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "1000");
    return p;
  }
}
