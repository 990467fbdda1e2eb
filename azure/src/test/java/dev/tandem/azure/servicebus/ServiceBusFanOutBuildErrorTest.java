package dev.tandem.azure.servicebus;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.tandem.core.RegionId;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Building a Service Bus fan-out starts one worker thread per region before the caller's publisher
 * options run. When those options throw an Error (an ExceptionInInitializerError from a class they
 * touch, an AssertionError in a test), the workers must be stopped as for a RuntimeException — before,
 * each failed build left its workers running for the life of the JVM. In memory (FakeNamespace).
 */
class ServiceBusFanOutBuildErrorTest {

  private static final RegionId REGION = RegionId.of("build-error");

  private static boolean workerAlive() {
    return Thread.getAllStackTraces().keySet().stream()
        .anyMatch(t -> t.isAlive() && t.getName().equals("tandem-servicebus-" + REGION.name()));
  }

  @Test
  void optionsThatThrowAnErrorLeaveNoWorkerRunning() {
    FakeNamespace ns = new FakeNamespace("orders", 100, 256 * 1024, 1);
    assertThrows(ExceptionInInitializerError.class, () -> ServiceBusFanOut.create(
        Map.of(REGION, new SyncNamespaceSender(ns.syncClient())), 4, 100, new SimpleMeterRegistry(),
        b -> {
          throw new ExceptionInInitializerError("a class the options touch failed to initialise");
        }, false));
    await("the region's worker stopped").atMost(Duration.ofSeconds(10)).until(() -> !workerAlive());
  }
}
