package dev.tandem.examples.spring;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * The order service, the same jar in both regions: run it with {@code
 * --spring.profiles.active=region-a} in one region and {@code region-b} in the other. Nothing in
 * the code is about Tandem: the starter's auto-configuration and {@code application-*.yml} are all.
 */
@SpringBootApplication
public class OrderServiceApplication {

  public static void main(String[] args) {
    SpringApplication.run(OrderServiceApplication.class, args);
  }
}
