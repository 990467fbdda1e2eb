package dev.tandem.examples.spring;

import java.util.concurrent.CompletableFuture;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.support.SendResult;
import org.springframework.stereotype.Service;

/** Places orders: one {@code KafkaTemplate.send}, written to both regions under one Tandem id. */
@Service
public class Orders {

  /** The topic, with the same partition count (tandem.shards) in both regions. */
  public static final String TOPIC = "orders";

  private final KafkaTemplate<String, String> kafka;

  public Orders(KafkaTemplate<String, String> kafka) {
    this.kafka = kafka;
  }

  /** Publishes the order to every region; completes when the ack policy is met (ANY: one region). */
  public CompletableFuture<SendResult<String, String>> place(String orderId, String orderJson) {
    return kafka.send(TOPIC, orderId, orderJson);
  }
}
