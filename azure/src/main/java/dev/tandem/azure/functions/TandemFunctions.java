package dev.tandem.azure.functions;

import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.Outcome;
import dev.tandem.core.Shards;
import dev.tandem.core.TandemHeaders;
import dev.tandem.store.Phase;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.function.Function;
import java.util.function.IntToLongFunction;

/**
 * Process-once for Azure Functions: the plain helper {@link #once} for any trigger, and the
 * configuration {@link TandemMiddleware} uses. The function app installs it once: through a {@link
 * TandemFunctionsProvider} registered in {@code META-INF/services} (loaded at the first protected
 * call, so it works even when the middleware runs before any app code), or by calling {@link
 * #install} itself:
 *
 * <pre>{@code
 * public final class MyTandem implements TandemFunctionsProvider {
 *   public TandemFunctions.Builder configure() {
 *     return TandemFunctions.builder().processor(onceProcessor).shardCount(16);
 *   }
 * }
 *
 * @FunctionName("orders")
 * public void run(@ServiceBusQueueTrigger(name = "body", queueName = "orders", connection = "SB")
 *         String body,
 *     @BindingName("ApplicationProperties") Map<String, Object> properties,
 *     @BindingName("DeliveryCount") int deliveryCount) {
 *   TandemFunctions.installed().once(TriggerHeaders.serviceBus(properties),
 *       body.getBytes(UTF_8), deliveryCount, ctx -> orders.apply(body));
 * }
 * }</pre>
 *
 * <p>What the function then does, by outcome (the trigger settles the message when the function
 * returns, and retries it when it throws):
 *
 * <ul>
 *   <li>processed, skipped (already COMPLETED), passed through, dead-lettered (the processor's
 *       {@code DeadLetterSink} holds it) → returns, the trigger completes the message;
 *   <li>the handler failed, another claim is in progress, or this region does not own the shard and
 *       the owner's COMPLETED has not replicated within {@code followerHold} → throws {@link
 *       RetryLaterException}, so the trigger retries it (a Service Bus retry counts toward {@code
 *       MaxDeliveryCount}).
 * </ul>
 *
 * <p>Heartbeats and shard ownership need a process that runs regularly: on a consumption plan use a
 * timer-triggered function; a strict takeover time needs always-ready instances.
 */
public final class TandemFunctions {

  private static volatile TandemFunctions installed;

  private final OnceProcessor processor;
  private final int shardCount;
  private final IntToLongFunction epochOfShard;
  private final long followerHoldNanos;

  private TandemFunctions(Builder b) {
    this.processor = b.processor;
    this.shardCount = b.shardCount;
    this.epochOfShard = b.epochOfShard;
    this.followerHoldNanos = b.followerHold.toNanos();
  }

  /** A new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** Builds and installs the configuration the middleware and {@link #installed()} use. */
  public static TandemFunctions install(Builder builder) {
    TandemFunctions t = builder.build();
    installed = t;
    return t;
  }

  /**
   * The installed configuration.
   *
   * @throws IllegalStateException when {@link #install} has not run
   */
  public static TandemFunctions installed() {
    TandemFunctions t = installed;
    if (t == null) {
      synchronized (TandemFunctions.class) {
        t = installed;
        if (t == null) {
          // The app's classes and this library share the app's class loader in the worker.
          for (TandemFunctionsProvider p : ServiceLoader.load(TandemFunctionsProvider.class,
              TandemFunctions.class.getClassLoader())) {
            Builder b = p.configure();
            if (b != null) {
              t = install(b);
              break;
            }
          }
        }
      }
    }
    if (t == null) {
      throw new IllegalStateException("Tandem is not installed in this function app: call "
          + "TandemFunctions.install(...) once at start, or register a TandemFunctionsProvider in "
          + "META-INF/services");
    }
    return t;
  }

  /** Removes the installed configuration (tests, shutdown). */
  public static void uninstall() {
    installed = null;
  }

  /**
   * Runs {@code handler} once for the message across regions, or throws {@link RetryLaterException}
   * (see the class doc).
   *
   * @param headers the trigger's headers, e.g. {@link TriggerHeaders#serviceBus}
   * @param payload the message body's bytes (checked against {@code tandem-digest})
   * @param deliveryCount the trigger's delivery count (1 when it has none)
   * @return the outcome (settled)
   */
  public Outcome once(Function<String, String> headers, byte[] payload, int deliveryCount,
      MessageHandler handler) {
    Objects.requireNonNull(headers, "headers");
    Objects.requireNonNull(handler, "handler");
    IncomingMessage message = IncomingMessage.of(headers, payload, shardOf(headers),
        Math.max(1, deliveryCount), null);
    Outcome outcome = processor.process(message, epochOfShard.applyAsLong(message.shard()), handler);
    if (outcome instanceof Outcome.RetryLater r && r.reason() == Outcome.RetryReason.FENCED) {
      outcome = follow(message, r);
    }
    if (!outcome.settled()) {
      Outcome.RetryLater r = (Outcome.RetryLater) outcome;
      throw new RetryLaterException(r);
    }
    return outcome;
  }

  /** {@link #once} for a text body. */
  public Outcome once(Function<String, String> headers, String body, int deliveryCount,
      MessageHandler handler) {
    return once(headers, body == null ? null : body.getBytes(StandardCharsets.UTF_8), deliveryCount,
        handler);
  }

  /** Whether the message's id is already COMPLETED here (what the middleware may skip). */
  boolean isCompleted(IncomingMessage message) {
    return processor.terminalPhase(message).filter(p -> p == Phase.COMPLETED).isPresent();
  }

  OnceProcessor processor() {
    return processor;
  }

  long epochOf(int shard) {
    return epochOfShard.applyAsLong(shard);
  }

  /** A follower waits briefly for the owner's COMPLETED (or DEAD_LETTERED) to replicate. */
  Outcome follow(IncomingMessage message, Outcome.RetryLater fenced) {
    long deadline = System.nanoTime() + followerHoldNanos;
    while (true) {
      Optional<Phase> phase = processor.terminalPhase(message);
      if (phase.isPresent()) {
        return new Outcome.Skipped(fenced.id(), phase.get());
      }
      if (System.nanoTime() - deadline >= 0) {
        return fenced;
      }
      // Polling the local store: the owner's record arrives through replication.
      java.util.concurrent.locks.LockSupport.parkNanos(
          Math.min(20_000_000L, deadline - System.nanoTime()));
    }
  }

  int shardOf(Function<String, String> headers) {
    String shard = headers.apply(TandemHeaders.SHARD);
    if (shard != null) {
      try {
        int s = Integer.parseInt(shard);
        if (s >= 0) {
          return s;
        }
      } catch (NumberFormatException e) {
        // malformed: the envelope check dead-letters it; any shard will do meanwhile
      }
    }
    String id = headers.apply(TandemHeaders.ID);
    return id == null ? 0 : Shards.forKey(id, shardCount);
  }

  /** Thrown to make the trigger retry the message: nothing was decided (see the outcome). */
  public static final class RetryLaterException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient Outcome.RetryLater outcome;

    RetryLaterException(Outcome.RetryLater outcome) {
      super("retry later (" + outcome.reason() + ") message " + outcome.id()
          + (outcome.detail() == null ? "" : ": " + outcome.detail()));
      this.outcome = outcome;
    }

    /** The outcome that asks for the retry. */
    public Outcome.RetryLater outcome() {
      return outcome;
    }
  }

  /** Builds a {@link TandemFunctions}. */
  public static final class Builder {
    private OnceProcessor processor;
    private int shardCount;
    private IntToLongFunction epochOfShard = shard -> 0L;
    private java.time.Duration followerHold = java.time.Duration.ofMillis(500);

    private Builder() {}

    /** The once-processor (store, dead-letter sink, shard fence). Required. */
    public Builder processor(OnceProcessor processor) {
      this.processor = Objects.requireNonNull(processor, "processor");
      return this;
    }

    /** The publishers' shard count. Required. */
    public Builder shardCount(int shardCount) {
      if (shardCount <= 0) {
        throw new IllegalArgumentException("shardCount must be > 0, got " + shardCount);
      }
      this.shardCount = shardCount;
      return this;
    }

    /** This region's lease epoch of a shard (from shard ownership); default 0. */
    public Builder epochOfShard(IntToLongFunction epochOfShard) {
      this.epochOfShard = Objects.requireNonNull(epochOfShard, "epochOfShard");
      return this;
    }

    /** How long a follower waits for the owner's COMPLETED; default 500 ms. */
    public Builder followerHold(java.time.Duration hold) {
      if (hold.isNegative()) {
        throw new IllegalArgumentException("followerHold must be >= 0, got " + hold);
      }
      this.followerHold = hold;
      return this;
    }

    TandemFunctions build() {
      if (processor == null) {
        throw new IllegalStateException("processor(...) is required");
      }
      if (shardCount <= 0) {
        throw new IllegalStateException("shardCount(...) is required");
      }
      return new TandemFunctions(this);
    }
  }
}
