package dev.tandem.azure.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.microsoft.azure.functions.annotation.ExponentialBackoffRetry;
import com.microsoft.azure.functions.annotation.FixedDelayRetry;
import com.microsoft.azure.functions.annotation.FunctionName;
import com.microsoft.azure.functions.annotation.KafkaTrigger;
import com.microsoft.azure.functions.annotation.TimerTrigger;
import dev.tandem.testkit.TestRegions;
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

  /** A class named to the check without any Kafka function. */
  public static class TimersOnly {
    @FunctionName("timer-only")
    public void timer(@TimerTrigger(name = "t", schedule = "0/5 * * * * *") String t) {}
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
  void aFunctionWhosePolicyFallsShortIsFlaggedEvenWhenHostJsonWouldKeepItOnExtension430() {
    // commitOnFailure=false, maxRetries=-1 keep the copy only on extension 4.3.0+; the loaded
    // version cannot be seen (bundle [4.*, 5.0.0)): still flagged, with the softer wording
    assertEquals(List.of("backoff-short", "no-policy", "too-short"), flagged(NO_COMMIT_ON_FAILURE));
    String noPolicy = message(NO_COMMIT_ON_FAILURE, "no-policy");
    assertTrue(noPolicy.contains("only on extension 4.3.0+") && noPolicy.contains("hot loop")
        && noPolicy.contains("cannot be seen"), noPolicy);
    String tooShort = message(NO_COMMIT_ON_FAILURE, "too-short");
    assertTrue(tooShort.contains("only on extension 4.3.0+") && !tooShort.contains("hot loop"),
        tooShort);
  }

  static String message(KafkaTriggerRetryCheck.ExtensionSettings settings, String function) {
    return KafkaTriggerRetryCheck.check(List.of(Functions.class), TAKEOVER, settings).stream()
        .filter(x -> x.function().equals(function)).findFirst().orElseThrow().message();
  }

  @Test
  void aClassWithNoKafkaFunctionIsAFindingNotASilentPass() {
    List<KafkaTriggerRetryCheck.Finding> findings =
        KafkaTriggerRetryCheck.check(List.of(TimersOnly.class), TAKEOVER, UNSEEN);
    assertEquals(1, findings.size(), findings.toString());
    assertTrue(findings.get(0).message().startsWith("no Kafka function in "
        + TimersOnly.class.getName()), findings.get(0).message());
  }

  @Test
  void aCheckThatCannotRunIsAFindingAndTheGaugeIsNotZero() {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    Map<String, String> failing = new java.util.AbstractMap<>() {
      @Override
      public java.util.Set<Map.Entry<String, String>> entrySet() {
        throw new SecurityException("environment not readable");
      }
    };
    List<KafkaTriggerRetryCheck.Finding> findings = KafkaTriggerRetryCheck.atStartup(
        List.of(Functions.class), TAKEOVER, meters, "region-a", failing);
    assertEquals(List.of(KafkaTriggerRetryCheck.CHECK_FAILED),
        findings.stream().map(KafkaTriggerRetryCheck.Finding::function).toList());
    assertTrue(findings.get(0).message().contains("environment not readable"),
        findings.get(0).message());
    assertEquals(1.0, meters.get("tandem.functions.kafka.retry.findings").tag("region", "region-a")
        .gauge().value());
  }

  @Test
  void commitOnFailureFalseRepeatsThePolicyMaxRetriesPlusOneTimes() {
    var sixTimes = new KafkaTriggerRetryCheck.ExtensionSettings(Optional.of(false), Optional.empty(),
        "host.json");
    // too-short: 3 x 2 s = 6 s, repeated 6 times = 36 s >= 35 s; backoff-short: 1+2+4+4 = 11 s x 6:
    // kept on 4.3.0+ only (softer wording); no-policy: 6 immediate invocations, then skipped
    assertEquals(List.of("backoff-short", "no-policy", "too-short"), flagged(sixTimes));
    assertTrue(message(sixTimes, "too-short").contains("only on extension 4.3.0+"));
    String noPolicy = message(sixTimes, "no-policy");
    assertTrue(noPolicy.contains("skips it after maxRetries = 5"), noPolicy);
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
    // .NET TimeSpan.Parse also takes hh:mm, d.hh:mm and a bare number of days
    assertEquals(Duration.ofMinutes(5), KafkaTriggerRetryCheck.parseTimeSpan("00:05"));
    assertEquals(Duration.ofDays(2).plusHours(1).plusMinutes(30),
        KafkaTriggerRetryCheck.parseTimeSpan("2.01:30"));
    assertEquals(Duration.ofDays(3), KafkaTriggerRetryCheck.parseTimeSpan("3"));
    assertThrows(IllegalArgumentException.class, () -> KafkaTriggerRetryCheck.parseTimeSpan("24:00"));
    assertThrows(IllegalArgumentException.class,
        () -> KafkaTriggerRetryCheck.parseTimeSpan("00:60:00"));
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
        Map.of("AzureWebJobsScriptRoot", root.toString()));
    assertEquals(Optional.of(false), fromFile.commitOnFailure());
    assertEquals(Optional.of(7), fromFile.maxRetries());
    assertTrue(fromFile.source().endsWith("host.json"), fromFile.source());

    var overridden = KafkaTriggerRetryCheck.settings(Map.of("AzureWebJobsScriptRoot",
        root.toString(), "AzureFunctionsJobHost__extensions__kafka__maxRetries", "-1"));
    assertEquals(Optional.of(false), overridden.commitOnFailure());
    assertEquals(Optional.of(-1), overridden.maxRetries());

    Path home = root.resolve("home");
    Files.createDirectories(home.resolve("site/wwwroot"));
    Files.writeString(home.resolve("site/wwwroot/host.json"), "{\"version\":\"2.0\"}");
    var none = KafkaTriggerRetryCheck.settings(Map.of("HOME", home.toString()));
    assertEquals(Optional.empty(), none.commitOnFailure(), "host.json without the kafka section");
    var unseen = KafkaTriggerRetryCheck.settings(Map.<String, String>of());
    assertTrue(unseen.source().startsWith("not visible"), unseen.source());
  }

  @Test
  void namesAndHostJsonKeysAreMatchedIgnoringCaseAsTheHostsBinderDoes(@TempDir Path root)
      throws Exception {
    Files.writeString(root.resolve("host.json"), "{\"version\":\"2.0\",\"Extensions\":{\"Kafka\":"
        + "{\"CommitOnFailure\":\"False\",\"MAXRETRIES\":\"-1\"}}}");
    var fromFile = KafkaTriggerRetryCheck.settings(root.resolve("host.json"));
    assertEquals(Optional.of(false), fromFile.commitOnFailure());
    assertEquals(Optional.of(-1), fromFile.maxRetries());
    var fromAppSettings = KafkaTriggerRetryCheck.settings(Map.of(
        "AZUREFUNCTIONSJOBHOST__EXTENSIONS__KAFKA__COMMITONFAILURE", "false",
        "azurefunctionsjobhost__extensions__kafka__maxretries", "3"));
    assertEquals(Optional.of(false), fromAppSettings.commitOnFailure());
    assertEquals(Optional.of(3), fromAppSettings.maxRetries());
    assertEquals("app settings", fromAppSettings.source());
  }

  @Test
  void theBuilderRefusesNoClassesAndANullClassNamingIt() {
    TandemFunctions.Builder b = TandemFunctions.builder();
    IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
        () -> b.kafkaFunctions(TAKEOVER));
    assertTrue(none.getMessage().contains("at least one"), none.getMessage());
    NullPointerException nul = assertThrows(NullPointerException.class,
        () -> b.kafkaFunctions(TAKEOVER, Functions.class, null));
    assertTrue(nul.getMessage().contains("functionClasses[1]"), nul.getMessage());
  }

  @Test
  void theBuilderRunsTheCheckAtStartupAndExportsTheFindings(@TempDir Path dir) {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    var store = dev.tandem.store.IdempotencyStore.builder()
        .region(dev.tandem.testkit.TestRegions.A).instance("i").directory(dir).build();
    try {
      TandemFunctions t = TandemFunctions.builder()
          .processor(dev.tandem.consumer.OnceProcessor.builder().store(store)
              .deadLetterSink(l -> java.util.concurrent.CompletableFuture.completedFuture(null)))
          .shardCount(4).meterRegistry(meters)
          .kafkaFunctions(TAKEOVER, Functions.class)
          .kafkaCheckEnvironment(Map.of()) // no host.json, no app settings: not this machine's
          .build();
      assertEquals(List.of("backoff-short", "no-policy", "too-short"), t.startupFindings().stream()
          .map(KafkaTriggerRetryCheck.Finding::function).sorted().toList());
      assertEquals(3.0, meters.get("tandem.functions.kafka.retry.findings").tag("region", "region-a")
          .gauge().value());
    } finally {
      store.close();
    }
  }
}
