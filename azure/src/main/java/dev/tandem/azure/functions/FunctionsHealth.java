package dev.tandem.azure.functions;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.consumer.RegionHealth;

/**
 * A function app's health endpoint's answer for a {@link RegionHealth} (see {@link
 * TandemFunctions#health()}): the HTTP status a load balancer or probe reads, and the details as
 * JSON. The status rules themselves are {@link RegionHealth}'s, one place for every integration.
 */
final class FunctionsHealth {

  private static final ObjectMapper JSON = new ObjectMapper();

  private FunctionsHealth() {}

  /** 503 when DOWN (the region cannot process), else 200: Spring Boot Actuator's mapping. */
  static int httpStatus(RegionHealth health) {
    return health.status() == RegionHealth.Status.DOWN ? 503 : 200;
  }

  /** {@link RegionHealth#details()} as a JSON object (status, reasons, figures; stable order). */
  static String json(RegionHealth health) {
    try {
      return JSON.writeValueAsString(health.details());
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("health details are plain values: " + e, e);
    }
  }
}
