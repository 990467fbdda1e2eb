package dev.tandem.examples.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.microsoft.azure.functions.annotation.ExponentialBackoffRetry;
import com.microsoft.azure.functions.annotation.FixedDelayRetry;
import com.microsoft.azure.functions.annotation.FunctionName;
import com.microsoft.azure.functions.annotation.KafkaTrigger;
import dev.tandem.azure.functions.KafkaTriggerRetryCheck;
import java.lang.reflect.Method;
import java.lang.reflect.Parameter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The sample's Kafka function as the Functions host and the Kafka extension see it. The extension
 * commits past a failed invocation (before 4.3.0 after every run; from 4.3.0 by default, {@code
 * commitOnFailure = true}), so a follower's "retry later" while the other region's shards are taken
 * over (about L + margin + one timer period: 35 s with the sample's defaults) drops its copy unless
 * the function's retry policy outlasts the takeover.
 */
class OrderFunctionsKafkaRetryTest {

  static Method kafkaFunction() {
    return Arrays.stream(OrderFunctions.class.getMethods())
        .filter(m -> Arrays.stream(m.getParameters())
            .anyMatch((Parameter p) -> p.isAnnotationPresent(KafkaTrigger.class)))
        .findFirst().orElseThrow(() -> new AssertionError("the sample has a Kafka function"));
  }

  @Test
  void theKafkaFunctionCarriesARetryPolicyThatNeverGivesUpOnAHeldCopy() {
    Method m = kafkaFunction();
    String name = m.getAnnotation(FunctionName.class).value();
    FixedDelayRetry fixed = m.getAnnotation(FixedDelayRetry.class);
    ExponentialBackoffRetry backoff = m.getAnnotation(ExponentialBackoffRetry.class);
    assertTrue(fixed != null || backoff != null, "the Kafka function " + name + " has no retry "
        + "policy: the Kafka extension commits past its failed invocation, so a follower's copy "
        + "held during a takeover is dropped");
    int count = fixed != null ? fixed.maxRetryCount() : backoff.maxRetryCount();
    assertEquals(-1, count, name + ": a finite retry count gives the copy up if the takeover "
        + "takes longer (a MANUAL takeover, a slow catch-up); Tandem itself bounds a failing handler "
        + "(the store's maxAttempts, then the dead-letter topic)");
  }

  @Test
  void theLibrarysStartUpCheckFindsNothingInTheSampleWithOrWithoutHostJsonSettings()
      throws Exception {
    Duration takeover = AppSettingsTest.takeoverTimeOfDefaults();
    var withHostJson = KafkaTriggerRetryCheck.settings(Path.of("host.json"));
    assertEquals(Optional.of(false), withHostJson.commitOnFailure());
    assertEquals(List.of(), KafkaTriggerRetryCheck.check(List.of(OrderFunctions.class), takeover,
        withHostJson));
    // an extension before 4.3.0 ignores commitOnFailure: the retry policy alone keeps the copy
    var ignored = new KafkaTriggerRetryCheck.ExtensionSettings(Optional.empty(), Optional.empty(),
        "an extension before 4.3.0");
    assertEquals(List.of(), KafkaTriggerRetryCheck.check(List.of(OrderFunctions.class), takeover,
        ignored));
  }

  @Test
  void hostJsonStopsTheKafkaExtensionFromCommittingPastAFailure() throws Exception {
    JsonNode host = new ObjectMapper().readTree(Path.of("host.json").toFile());
    JsonNode kafka = host.path("extensions").path("kafka");
    assertNotNull(kafka.get("commitOnFailure"), "host.json sets no extensions.kafka"
        + ".commitOnFailure: the extension (4.3.0+) defaults to true, committing past a failure");
    assertEquals(false, kafka.get("commitOnFailure").asBoolean());
    assertEquals(-1, kafka.path("maxRetries").asInt(5), "extensions.kafka.maxRetries: the "
        + "extension force-commits (skips) a message after this many failed invocations");
  }
}
