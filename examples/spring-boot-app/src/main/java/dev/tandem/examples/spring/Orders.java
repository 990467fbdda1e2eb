package dev.tandem.examples.spring;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.support.SendResult;
import org.springframework.stereotype.Service;

/**
 * Places orders: one {@code KafkaTemplate.send}, written to both regions under one Tandem id — the
 * order id (header {@value #ID_HEADER}), so an order placed twice (a retry after a timeout, a
 * client clicking twice) is one message: the listener charges it once.
 */
@Service
public class Orders {

  /** The topic, with the same partition count (tandem.shards) in both regions. */
  public static final String TOPIC = "orders";

  /** The header whose value Tandem takes as the message id (its default, {@code tandem.id.header}). */
  public static final String ID_HEADER = "tandem-id";

  private final KafkaTemplate<String, String> kafka;

  public Orders(KafkaTemplate<String, String> kafka) {
    this.kafka = kafka;
  }

  /** Publishes the order to every region; completes when the ack policy is met (ANY: one region). */
  public CompletableFuture<SendResult<String, String>> place(String orderId, String orderJson) {
    ProducerRecord<String, String> record = new ProducerRecord<>(TOPIC, orderId, orderJson);
    record.headers().add(ID_HEADER, orderId.getBytes(StandardCharsets.UTF_8));
    return kafka.send(record);
  }
}
