package dev.tandem.examples.demo;

import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The demo's publisher in a child JVM, for the chaos suite's "publisher SIGKILL with a spooled
 * backlog": a {@link TandemKafkaProducer} under ack policy ANY with its spool in the given directory
 * publishes orders at a steady rate until it is killed, printing {@code STARTED} and then {@code ACKED
 * <id>} for every send acknowledged to it (under ANY: each copy on a broker or fsynced in the spool).
 *
 * <p>Args: bootstrapA bootstrapB topic spoolDir idPrefix seed rate
 */
public final class ChaosPublisherMain {

  private ChaosPublisherMain() {}

  public static void main(String[] args) {
    String topic = args[2];
    String prefix = args[4];
    Random random = new Random(Long.parseLong(args[5]));
    int rate = Integer.parseInt(args[6]);
    TandemKafkaProducer<String, byte[]> producer =
        TandemKafkaProducer.builder(new StringSerializer(), new ByteArraySerializer())
            .region(TwoRegionDemo.A, DemoRegion.producerProperties(args[0]))
            .region(TwoRegionDemo.B, DemoRegion.producerProperties(args[1]))
            .publisher(o -> o.spoolDirectory(Path.of(args[3])))
            .build();
    System.out.println("STARTED");
    long start = System.nanoTime();
    long nanosPerMessage = 1_000_000_000L / rate;
    for (int i = 0; ; i++) { // until the SIGKILL
      String id = prefix + "-" + i;
      ProducerRecord<String, byte[]> rec = new ProducerRecord<>(topic, "customer-" + random.nextInt(1000),
          ("{\"order\":" + i + "}").getBytes(StandardCharsets.UTF_8));
      rec.headers().add(TandemHeaders.ID, id.getBytes(StandardCharsets.UTF_8));
      producer.send(rec, (md, e) -> {
        if (e == null) {
          System.out.println("ACKED " + id);
        } else {
          System.out.println("FAILED " + id + " " + e);
        }
      });
      long due = start + (i + 1) * nanosPerMessage;
      long left;
      while ((left = due - System.nanoTime()) > 0) {
        LockSupport.parkNanos(Math.min(left, 1_000_000)); // pacing the publisher, not synchronising
      }
    }
  }
}
