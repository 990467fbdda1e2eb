package dev.tandem.examples.spring;

import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.ApplicationArguments;
import org.springframework.boot.ApplicationRunner;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.stereotype.Component;

/**
 * For trying the sample: {@code --orders.place=N} places N orders when the service starts (ids
 * {@code <region>-order-<i>}), so you can watch them being charged once across the two regions.
 */
@Component
@ConditionalOnProperty("orders.place")
public class PlaceOrdersAtStart implements ApplicationRunner {

  private static final Logger log = LoggerFactory.getLogger(PlaceOrdersAtStart.class);

  private final Orders orders;
  private final int count;
  private final String region;

  public PlaceOrdersAtStart(Orders orders, @Value("${orders.place}") int count,
      @Value("${tandem.region}") String region) {
    this.orders = orders;
    this.count = count;
    this.region = region;
  }

  @Override
  public void run(ApplicationArguments args) {
    CompletableFuture<?>[] sent = new CompletableFuture<?>[count];
    for (int i = 0; i < count; i++) {
      sent[i] = orders.place(region + "-order-" + i, "{\"id\":" + i + ",\"amount\":" + (10 + i) + "}");
    }
    CompletableFuture.allOf(sent).join();
    log.info("placed {} orders from {} (each written to both regions)", count, region);
  }
}
