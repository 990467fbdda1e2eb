package dev.tandem.consumer.kafka;

import dev.tandem.core.TandemHeaders;
import dev.tandem.publisher.TandemKafkaProducer;
import dev.tandem.testkit.History;
import dev.tandem.testkit.TwoRegions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Publishes test messages to both regions with the real {@link TandemKafkaProducer}. */
final class Publishing {

  private Publishing() {}

  static TandemKafkaProducer<String, byte[]> producer(TwoRegions regions, Path spool) {
    return TandemKafkaProducer.builder(new StringSerializer(), new ByteArraySerializer())
        .region(RegionNode.A, regions.a().producerProperties())
        .region(RegionNode.B, regions.b().producerProperties())
        .publisher(p -> p.spoolDirectory(spool))
        .build();
  }

  /** Publishes ids {@code prefix-from .. prefix-(to-1)} and records them as published. */
  static List<String> publish(TandemKafkaProducer<String, byte[]> producer, String topic,
      String prefix, int from, int to, History history) throws Exception {
    List<String> ids = new ArrayList<>();
    List<Future<RecordMetadata>> acks = new ArrayList<>();
    for (int i = from; i < to; i++) {
      String id = prefix + "-" + i;
      ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, "key-" + i,
          ("payload " + i).getBytes(StandardCharsets.UTF_8));
      r.headers().add(TandemHeaders.ID, id.getBytes(StandardCharsets.UTF_8));
      acks.add(producer.send(r));
      ids.add(id);
    }
    producer.flush();
    for (int i = 0; i < acks.size(); i++) {
      acks.get(i).get();
      history.published(ids.get(i));
    }
    return ids;
  }
}
