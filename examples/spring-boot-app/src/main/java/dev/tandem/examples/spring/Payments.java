package dev.tandem.examples.spring;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.support.KafkaHeaders;
import org.springframework.messaging.handler.annotation.Header;
import org.springframework.stereotype.Component;

/**
 * Charges each order: a plain {@code @KafkaListener}. Both regions receive every order; Tandem runs
 * this method once per order across the two regions (the shard's owner region charges, the other
 * holds its copy until the charge is replicated, or takes over if the owner region dies).
 */
@Component
public class Payments {

  private static final Logger log = LoggerFactory.getLogger(Payments.class);

  private final String region;
  /** Charges made in this process, by order id (a real service calls its payment provider). */
  private final Map<String, AtomicInteger> charged = new ConcurrentHashMap<>();

  public Payments(@Value("${tandem.region}") String region) {
    this.region = region;
  }

  @KafkaListener(topics = Orders.TOPIC)
  public void charge(String orderJson, @Header(KafkaHeaders.RECEIVED_KEY) String orderId) {
    charged.computeIfAbsent(orderId, k -> new AtomicInteger()).incrementAndGet();
    log.info("charged order {} in {}", orderId, region);
  }

  /** How many times this process charged each order. */
  public Map<String, AtomicInteger> charged() {
    return charged;
  }
}
