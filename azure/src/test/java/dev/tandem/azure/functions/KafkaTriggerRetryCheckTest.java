package dev.tandem.azure.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.microsoft.azure.functions.annotation.ExponentialBackoffRetry;
import com.microsoft.azure.functions.annotation.FixedDelayRetry;
import com.microsoft.azure.functions.annotation.FunctionName;
import com.microsoft.azure.functions.annotation.KafkaTrigger;
import com.microsoft.azure.functions.annotation.TimerTrigger;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link KafkaTriggerRetryCheck}: what it reads from the annotations, app settings and host.json. */
class KafkaTriggerRetryCheckTest {

  static final Duration TAKEOVER = Duration.ofSeconds(35);
  static final KafkaTriggerRetryCheck.ExtensionSettings UNSEEN =
      new KafkaTriggerRetryCheck.ExtensionSettings(Optional.empty(), Optional.empty(), "not visible");
  static final KafkaTriggerRetryCheck.ExtensionSettings NO_COMMIT_ON_FAILURE =
      new KafkaTriggerRetryCheck.ExtensionSettings(Optional.of(false), Optional.of(-1), "host.json");

  /** Function fixtures, as an app declares them. */
  public static class Functions {
    @FunctionName("no-policy")
    public void noPolicy(@KafkaTrigger(name = "e", topic = "t", brokerList = "b", consumerGroup = "g") String e) {}

    @FunctionName("forever")
    @FixedDelayRetry(maxRetryCount = -1, delayInterval = "00:00:05")
    public void forever(@KafkaTrigger(name = "e", topic = "t", brokerList = "b", consumerGroup = "g") String e) {}

    @FunctionName("too-short")
    @FixedDelayRetry(maxRetryCount = 3, delayInterval = "00:00:02")
    public void tooShort(@KafkaTrigger(name = "e", topic = "t", brokerList = "b", consumerGroup = "g") String e) {}

    @FunctionName("long-enough")
    @FixedDelayRetry(maxRetryCount = 10, delayInterval = "00:00:05")
    public void longEnough(@KafkaTrigger(name = "e", topic = "t", brokerList = "b", consumerGroup = "g") String e) {}

    @FunctionName("backoff-short")
    @ExponentialBackoffRetry(maxRetryCount = 4, minimumInterval = "00:00:01",
        maximumInterval = "00:00:04")
    public void backoffShort(@KafkaTrigger(name = "e", topic = "t", brokerList = "b", consumerGroup = "g") String e) {}

    @FunctionName("timer")
    public void timer(@TimerTrigger(name = "t", schedule = "0/5 * * * * *") String t) {}

    public void notAFunction(@KafkaTrigger(name = "e", topic = "t", brokerList = "b", consumerGroup = "g") String e) {}
  }

  static List<String> flagged(KafkaTriggerRetryCheck.ExtensionSettings settings) {
    return KafkaTriggerRetryCheck.check(List.of(Functions.class), TAKEOVER, settings).stream()
        .map(KafkaTriggerRetryCheck.Finding::function).sorted().toList();
  }

  @Test
  void withTheExtensionsDefaultsOnlyAPolicyOutlastingTheTakeoverKeepsTheCopy() {
    assertEquals(List.of("backoff-short", "no-policy", "too-short"), flagged(UNSEEN));
    KafkaTriggerRetryCheck.Finding f = KafkaTriggerRetryCheck.check(List.of(Functions.class),
        TAKEOVER, UNSEEN).stream().filter(x -> x.function().equals("no-policy")).findFirst()
        .orElseThrow();
    assertTrue(f.message().contains("no retry policy") && f.message().contains("commits past it")
        && f.message().contains("maxRetryCount = -1") && f.message().contains("35 s"), f.message());
  }

  @Test
  void commitOnFailureFalseWithUnlimitedMaxRetriesKeepsEveryCopy() {
    assertEquals(List.of(), flagged(NO_COMMIT_ON_FAILURE));
  }

  @Test
  void commitOnFailureFalseRepeatsThePolicyMaxRetriesPlusOneTimes() {
    var sixTimes = new KafkaTriggerRetryCheck.ExtensionSettings(Optional.of(false), Optional.empty(),
        "host.json");
    // too-short: 3 x 2 s = 6 s, repeated 6 times = 36 s >= 35 s; backoff-short: 1+2+4+4 = 11 s x 6;
    // no-policy: 6 immediate invocations, nothing held
    assertEquals(List.of("no-policy"), flagged(sixTimes));
    var once = new KafkaTriggerRetryCheck.ExtensionSettings(Optional.of(false), Optional.of(0),
        "host.json");
    assertEquals(List.of("backoff-short", "no-policy", "too-short"), flagged(once));
  }

  @Test
  void spansAndTimeSpansAreReadAsTheHostReadsThem() {
    assertEquals(Duration.ofSeconds(5), KafkaTriggerRetryCheck.parseTimeSpan("00:00:05"));
    assertEquals(Duration.ofDays(1).plusHours(2).plusMinutes(3).plusSeconds(4).plusMillis(500),
        KafkaTriggerRetryCheck.parseTimeSpan("1.02:03:04.5"));
    assertThrows(IllegalArgumentException.class, () -> KafkaTriggerRetryCheck.parseTimeSpan("5s"));
    assertEquals(Optional.empty(), KafkaTriggerRetryCheck.fixedSpan(-1, Duration.ofSeconds(5)));
    assertEquals(Optional.of(Duration.ofSeconds(15)),
        KafkaTriggerRetryCheck.fixedSpan(3, Duration.ofSeconds(5)));
    assertEquals(Optional.of(Duration.ofSeconds(1 + 2 + 4 + 4 + 4)), KafkaTriggerRetryCheck
        .backoffSpan(5, Duration.ofSeconds(1), Duration.ofSeconds(4)));
  }

  @Test
  void settingsComeFromAppSettingsOverridingHostJsonInTheScriptRoot(@TempDir Path root)
      throws Exception {
    Files.writeString(root.resolve("host.json"), "{\"version\":\"2.0\",\"extensions\":{\"kafka\":"
        + "{\"commitOnFailure\":false,\"maxRetries\":7}}}");
    var fromFile = KafkaTriggerRetryCheck.settings(
        Map.of("AzureWebJobsScriptRoot", root.toString())::get);
    assertEquals(Optional.of(false), fromFile.commitOnFailure());
    assertEquals(Optional.of(7), fromFile.maxRetries());
    assertTrue(fromFile.source().endsWith("host.json"), fromFile.source());

    var overridden = KafkaTriggerRetryCheck.settings(Map.of("AzureWebJobsScriptRoot",
        root.toString(), "AzureFunctionsJobHost__extensions__kafka__maxRetries", "-1")::get);
    assertEquals(Optional.of(false), overridden.commitOnFailure());
    assertEquals(Optional.of(-1), overridden.maxRetries());

    Path home = root.resolve("home");
    Files.createDirectories(home.resolve("site/wwwroot"));
    Files.writeString(home.resolve("site/wwwroot/host.json"), "{\"version\":\"2.0\"}");
    var none = KafkaTriggerRetryCheck.settings(Map.of("HOME", home.toString())::get);
    assertEquals(Optional.empty(), none.commitOnFailure(), "host.json without the kafka section");
    var unseen = KafkaTriggerRetryCheck.settings(Map.<String, String>of()::get);
    assertTrue(unseen.source().startsWith("not visible"), unseen.source());
  }

  @Test
  void theBuilderRunsTheCheckAtStartupAndExportsTheFindings(@TempDir Path dir) {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    var store = dev.tandem.store.IdempotencyStore.builder()
        .region(dev.tandem.core.RegionId.of("region-a")).instance("i").directory(dir).build();
    try {
      TandemFunctions t = TandemFunctions.builder()
          .processor(dev.tandem.consumer.OnceProcessor.builder().store(store)
              .deadLetterSink(l -> java.util.concurrent.CompletableFuture.completedFuture(null)))
          .shardCount(4).meterRegistry(meters)
          .kafkaFunctions(TAKEOVER, Functions.class).build();
      // this JVM's environment shows no host.json: the extension's defaults are assumed
      assertEquals(List.of("backoff-short", "no-policy", "too-short"), t.startupFindings().stream()
          .map(KafkaTriggerRetryCheck.Finding::function).sorted().toList());
      assertEquals(3.0, meters.get("tandem.functions.kafka.retry.findings").gauge().value());
    } finally {
      store.close();
    }
  }
}
