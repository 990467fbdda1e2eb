package dev.tandem.azure.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.microsoft.azure.functions.internal.spi.middleware.Middleware;
import com.microsoft.azure.functions.internal.spi.middleware.MiddlewareChain;
import com.microsoft.azure.functions.internal.spi.middleware.MiddlewareContext;
import dev.tandem.consumer.MissingIdPolicy;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.Outcome;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.TandemIds;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.testkit.TestRegions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The middleware invoked as the Java worker invokes it: the middlewares found by {@link
 * ServiceLoader}, then the function, in one chain over a {@link MiddlewareContext} that, like the
 * worker's, resolves parameter names by annotation simple name and hands only string input data.
 */
class TandemMiddlewareTest {

  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir Path dir;
  IdempotencyStore store;
  final AtomicInteger runs = new AtomicInteger();

  @BeforeEach
  void install() {
    store = IdempotencyStore.builder().region(TestRegions.A).instance("fn-1")
        .directory(dir).build();
    OnceProcessor processor = OnceProcessor.builder().store(store)
        .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
        .missingIdPolicy(MissingIdPolicy.REJECT)
        .inProgressWait(Duration.ofMillis(50))
        .build();
    TandemFunctions.install(TandemFunctions.builder().processor(processor).shardCount(4));
  }

  @AfterEach
  void uninstall() {
    TandemFunctions.uninstall();
    store.close();
  }

  /** The worker's view of one invocation. */
  static final class Invocation implements MiddlewareContext {
    final String functionName;
    final Map<String, List<String>> annotationsByParameter;
    final Map<String, Object> stringValues;
    Object returnValue;

    Invocation(String functionName, Map<String, List<String>> annotationsByParameter,
        Map<String, Object> stringValues) {
      this.functionName = functionName;
      this.annotationsByParameter = annotationsByParameter;
      this.stringValues = stringValues;
    }

    @Override
    public String getParameterName(String annotationSimpleClassName) {
      return annotationsByParameter.entrySet().stream()
          .filter(e -> e.getValue().contains(annotationSimpleClassName)).map(Map.Entry::getKey)
          .findFirst().orElse(null);
    }

    @Override
    public Object getParameterValue(String name) {
      return stringValues.get(name);
    }

    @Override
    public void updateParameterValue(String name, Object value) {
      stringValues.put(name, value);
    }

    @Override
    public Object getReturnValue() {
      return returnValue;
    }

    @Override
    public void updateReturnValue(Object returnValue) {
      this.returnValue = returnValue;
    }

    @Override
    public Logger getLogger() {
      return Logger.getLogger(functionName);
    }

    @Override
    public String getInvocationId() {
      return TandemIds.newId();
    }

    @Override
    public String getFunctionName() {
      return functionName;
    }
  }

  interface Function {
    void run(MiddlewareContext context) throws Exception;
  }

  /** The worker's chain: every loaded middleware, then the function itself. */
  static void invoke(MiddlewareContext context, Function function) throws Exception {
    List<Middleware> middlewares = new ArrayList<>();
    ServiceLoader.load(Middleware.class).forEach(middlewares::add);
    middlewares.add((ctx, chain) -> function.run(ctx));
    Iterator<Middleware> it = middlewares.iterator();
    MiddlewareChain chain = new MiddlewareChain() {
      @Override
      public void doNext(MiddlewareContext ctx) throws Exception {
        if (it.hasNext()) {
          it.next().invoke(ctx, this);
        }
      }
    };
    chain.doNext(context);
  }

  static String kafkaEvent(Envelope envelope, String value, long offset) {
    ObjectNode event = JSON.createObjectNode();
    event.put("Offset", offset).put("Partition", envelope == null ? 0 : envelope.shard())
        .put("Topic", "orders").put("Timestamp", "2026-11-25T06:00:00Z").put("Value", value);
    ArrayNode headers = event.putArray("Headers");
    if (envelope != null) {
      EnvelopeCodec.write(envelope, (k, v) -> headers.addObject().put("Key", k)
          .put("Value", Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
    }
    return event.toString();
  }

  static Invocation kafkaInvocation(String eventJson) {
    Map<String, Object> values = new HashMap<>();
    values.put("event", eventJson);
    return new Invocation("orders", Map.of("event", List.of("TandemOnce", "KafkaTrigger"),
        "context", List.of()), values);
  }

  static Envelope envelope(String value) {
    return Envelope.forPayload(TandemIds.newId(), value.getBytes(StandardCharsets.UTF_8), 2,
        System.currentTimeMillis());
  }

  @Test
  void theWorkerFindsTheMiddlewareThroughServiceLoader() {
    List<Middleware> found = new ArrayList<>();
    ServiceLoader.load(Middleware.class).forEach(found::add);
    assertEquals(1, found.size());
    assertInstanceOf(TandemMiddleware.class, found.get(0));
  }

  @Test
  void aFreshMessageRunsTheFunctionAndItsDuplicateFromTheOtherRegionDoesNot() throws Exception {
    Envelope e = envelope("order 1");
    invoke(kafkaInvocation(kafkaEvent(e, "order 1", 10)), ctx -> runs.incrementAndGet());
    assertEquals(1, runs.get());
    // the copy from the other region's topic: another offset, the same envelope
    invoke(kafkaInvocation(kafkaEvent(e, "order 1", 77)), ctx -> runs.incrementAndGet());
    assertEquals(1, runs.get(), "the duplicate is skipped");
    assertTrue(store.isTerminal(e.id(), e.shard()));
  }

  @Test
  void aFailingFunctionPropagatesItsExceptionAndTheRetryRunsAgain() throws Exception {
    Envelope e = envelope("order 2");
    IllegalStateException boom = assertThrows(IllegalStateException.class,
        () -> invoke(kafkaInvocation(kafkaEvent(e, "order 2", 1)), ctx -> {
          runs.incrementAndGet();
          throw new IllegalStateException("downstream down");
        }));
    assertEquals("downstream down", boom.getMessage());
    invoke(kafkaInvocation(kafkaEvent(e, "order 2", 1)), ctx -> runs.incrementAndGet());
    assertEquals(2, runs.get());
    invoke(kafkaInvocation(kafkaEvent(e, "order 2", 1)), ctx -> runs.incrementAndGet());
    assertEquals(2, runs.get());
  }

  @Test
  void badTriggerDataFailsClearlyAtTheFirstCallAndTheFunctionDoesNotRun() {
    Invocation noValue = new Invocation("orders",
        Map.of("event", List.of("TandemOnce")), new HashMap<>());
    IllegalStateException e1 = assertThrows(IllegalStateException.class,
        () -> invoke(noValue, ctx -> runs.incrementAndGet()));
    assertTrue(e1.getMessage().contains("dataType = \"string\""), e1.getMessage());

    IllegalStateException e2 = assertThrows(IllegalStateException.class,
        () -> invoke(kafkaInvocation("just a value"), ctx -> runs.incrementAndGet()));
    assertTrue(e2.getMessage().contains("not a Kafka trigger event"), e2.getMessage());
    assertEquals(0, runs.get());
  }

  @Test
  void aMessageWithoutEnvelopeIsDeadLetteredNotRunAndNotRetried() throws Exception {
    invoke(kafkaInvocation(kafkaEvent(null, "legacy", 5)), ctx -> runs.incrementAndGet());
    assertEquals(0, runs.get()); // REJECT: to the dead-letter sink, the trigger settles it
  }

  @Test
  void anUnmarkedFunctionRunsUntouched() throws Exception {
    Invocation http = new Invocation("health", Map.of("req", List.of("HttpTrigger")),
        new HashMap<>());
    invoke(http, ctx -> runs.incrementAndGet());
    invoke(http, ctx -> runs.incrementAndGet());
    assertEquals(2, runs.get());
  }

  @Test
  void theHelperRunsAServiceBusMessageOnceFromItsApplicationProperties() {
    Envelope e = envelope("order 3");
    Map<String, Object> props = new HashMap<>();
    EnvelopeCodec.write(e, props::put);
    TandemFunctions tandem = TandemFunctions.installed();

    Outcome first = tandem.once(TriggerHeaders.serviceBus(props), "order 3", 1,
        ctx -> runs.incrementAndGet());
    assertInstanceOf(Outcome.Processed.class, first);
    Outcome second = tandem.once(TriggerHeaders.serviceBus(props), "order 3", 2,
        ctx -> runs.incrementAndGet());
    assertInstanceOf(Outcome.Skipped.class, second);
    assertEquals(1, runs.get());

    Envelope f = envelope("order 4");
    Map<String, Object> props2 = new HashMap<>();
    EnvelopeCodec.write(f, props2::put);
    TandemFunctions.RetryLaterException retry = assertThrows(
        TandemFunctions.RetryLaterException.class,
        () -> tandem.once(TriggerHeaders.serviceBus(props2), "order 4", 1, ctx -> {
          throw new IllegalStateException("db down");
        }));
    assertEquals(Outcome.RetryReason.HANDLER_FAILED, retry.outcome().reason());
  }

  /** A provider as a function app registers it in META-INF/services (see src/test/resources). */
  public static final class TestProvider implements TandemFunctionsProvider {
    static volatile TandemFunctions.Builder next;

    @Override
    public TandemFunctions.Builder configure() {
      return next;
    }
  }

  @Test
  void aRegisteredProviderInstallsTandemAtTheFirstProtectedCall() throws Exception {
    OnceProcessor processor = TandemFunctions.installed().processor();
    TandemFunctions.uninstall();
    TestProvider.next = TandemFunctions.builder().processor(processor).shardCount(4);
    try {
      Envelope e = envelope("order 9");
      invoke(kafkaInvocation(kafkaEvent(e, "order 9", 1)), ctx -> runs.incrementAndGet());
      invoke(kafkaInvocation(kafkaEvent(e, "order 9", 1)), ctx -> runs.incrementAndGet());
      assertEquals(1, runs.get());
    } finally {
      TestProvider.next = null;
    }
  }

  @Test
  void withoutInstallationAProtectedFunctionFailsSaying() {
    TandemFunctions.uninstall();
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> invoke(kafkaInvocation(kafkaEvent(envelope("x"), "x", 1)), ctx -> runs.incrementAndGet()));
    assertTrue(e.getMessage().contains("TandemFunctions.install"), e.getMessage());
    assertEquals(0, runs.get());
  }
}
