package dev.tandem.azure.functions;

import dev.tandem.azure.AzureMeterNames;
import com.microsoft.azure.functions.HttpRequestMessage;
import com.microsoft.azure.functions.HttpResponseMessage;
import com.microsoft.azure.functions.HttpStatusType;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.Shards;
import dev.tandem.core.TandemHeaders;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.replication.ShardNotReadyException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Once-only HTTP functions behind a load balancer that may retry in another region (Azure Front
 * Door): the {@code Idempotency-Key} request header (IETF httpapi draft) is the id, and the first
 * response is stored in the replicated idempotency store and replayed to every retry, in either
 * region.
 *
 * <pre>{@code
 * @FunctionName("pay")
 * public HttpResponseMessage pay(@HttpTrigger(name = "req", methods = HttpMethod.POST)
 *     HttpRequestMessage<Optional<String>> req) {
 *   return http.execute(req, () -> payments.charge(req));   // runs once per key
 * }
 * }</pre>
 *
 * <p>Per request:
 *
 * <ul>
 *   <li>No key: the function runs (or 400, with {@link Builder#requireKey}). A key that is not a
 *       valid Tandem id (1-128 characters) gets 400.
 *   <li>The request's fingerprint (method, path, body) is the digest. A key seen with another
 *       fingerprint gets <b>422</b>, sticky.
 *   <li>First request: the function runs. A response below 500 is stored (status, the {@link
 *       Builder#storedHeaders selected headers}, the body up to {@link Builder#maxBodyBytes}) and the
 *       key completed; a 5xx response or an exception releases the key, so a retry runs the function
 *       again (after {@code maxAttempts} of the store the key is dead-lettered: 422).
 *   <li><b>408 and 429 are not kept</b>: they ask the client to come back later, and a stored one
 *       would answer every retry for the record's TTL without its {@code Retry-After}. The client
 *       gets the function's response, the key is released as for a 5xx (a retry runs the function
 *       again). <b>Each such release spends one of the store's {@code maxAttempts}</b> (default 5):
 *       the store has no release that spends none, so a client that is answered 408/429 {@code
 *       maxAttempts} times, however well it backs off, then gets 422 (dead-lettered) for the
 *       record's TTL. Answer 408/429 only when the function did nothing, and size {@code
 *       maxAttempts} for how many come-back answers a key may get.
 *   <li>A retry of a completed key, in either region, gets the stored response plus the header
 *       {@value #REPLAYED_HEADER}{@code : true}. A body over the limit is not stored: the retry gets
 *       the status and headers with an empty body and {@value #BODY_OMITTED_HEADER}{@code : true}.
 *   <li>A completed request never runs again, whatever its response's size. The stored form (JSON:
 *       escaped text, or base64 bytes, plus the headers) can exceed the store's result limit ({@link
 *       IdempotencyStore#maxResultBytes()}, 64 KiB by default) even with a body under {@code
 *       maxBodyBytes}; its size is checked before completing, and what does not fit is left out:
 *       first the body ({@value #BODY_OMITTED_HEADER}), then the headers too — the marker
 *       "completed, response not kept": the retry gets the first status with {@value
 *       #RESPONSE_NOT_KEPT_HEADER}{@code : true}. Counted as {@code
 *       outcome=processed-response-not-kept} and logged (raise the store's limit, or lower {@code
 *       maxBodyBytes}).
 *   <li>A retry while the first is still running gets <b>409</b> with {@code Retry-After}.
 *   <li>A store shard still restoring (a new instance) gets <b>503</b> with {@code Retry-After}.
 * </ul>
 *
 * <p>Limits, plainly: a retry that reaches the other region before the first request's claim has
 * replicated there runs the function again. The store detects it when the two completions merge
 * (completers from two regions), counts it ({@code tandem.http.requests{outcome=duplicate-detected}}
 * and the store's detected duplicates) and logs it; it does not prevent it. The window is the
 * replication lag (typically well under a second), so a retry after a client timeout of seconds is
 * answered from the store. Bodies that are not a String or byte[] are stored as their JSON (one
 * with no JSON form completes the request with its status only, as the marker above).
 *
 * <p>Metrics: {@code tandem.http.requests} tagged {@code region}, {@code outcome} ({@code processed},
 * {@code processed-response-not-kept}, {@code replayed}, {@code in-progress}, {@code failed}, {@code
 * not-kept-retryable}, {@code conflict}, {@code dead-lettered}, {@code duplicate-detected}, ...).
 * Thread-safe.
 */
public final class IdempotentHttp {

  /** The request header carrying the key. */
  public static final String IDEMPOTENCY_KEY = "Idempotency-Key";
  /** Set on a replayed response. */
  public static final String REPLAYED_HEADER = "Tandem-Replayed";
  /** Set on a replayed response whose body was too large to store. */
  public static final String BODY_OMITTED_HEADER = "Tandem-Body-Omitted";
  /**
   * Set on a replayed response of which only the status was kept (the marker "completed, response
   * not kept": even its headers were over the store's result limit).
   */
  public static final String RESPONSE_NOT_KEPT_HEADER = "Tandem-Response-Not-Kept";

  /**
   * The stored size of the marker "completed, response not kept" (a 3-digit status, no headers,
   * no body): the least a store must keep for a replay to tell the first status.
   */
  static final int MARKER_BYTES =
      new StoredResponse(599, Map.of(), new byte[0], true, true, true).encode().length;

  private static final Logger LOG = LoggerFactory.getLogger(IdempotentHttp.class);

  private final IdempotencyStore store;
  private final int shardCount;
  private final Duration lease;
  /** What of a first response is kept, and how a retry gets it back. */
  private final ResponseKeeping keeping;
  private final Duration retryAfter;
  private final boolean requireKey;
  private final MeterRegistry registry;
  private final String region;

  private IdempotentHttp(Builder b) {
    this.store = b.store;
    this.shardCount = b.shardCount;
    this.lease = b.lease;
    this.keeping = new ResponseKeeping(b.store, b.maxBodyBytes, List.copyOf(b.storedHeaders));
    this.retryAfter = b.retryAfter;
    this.requireKey = b.requireKey;
    this.registry = b.registry;
    this.region = store.owner().region().name();
  }

  /** A new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** {@link #execute(HttpRequestMessage, byte[], Supplier)} with the request's text body. */
  public HttpResponseMessage execute(HttpRequestMessage<Optional<String>> request,
      Supplier<HttpResponseMessage> function) {
    byte[] body = request.getBody() == null
        ? new byte[0]
        : request.getBody().map(s -> s.getBytes(StandardCharsets.UTF_8)).orElse(new byte[0]);
    return execute(request, body, function);
  }

  /**
   * Runs {@code function} at most once per idempotency key (see the class doc for every answer).
   *
   * @param requestBody the request body's bytes (part of the fingerprint)
   */
  public HttpResponseMessage execute(HttpRequestMessage<?> request, byte[] requestBody,
      Supplier<HttpResponseMessage> function) {
    Objects.requireNonNull(request, "request");
    Objects.requireNonNull(function, "function");
    String key = header(request.getHeaders(), IDEMPOTENCY_KEY);
    if (key == null) {
      if (requireKey) {
        count("missing-key");
        return plain(request, 400, "this endpoint requires an " + IDEMPOTENCY_KEY + " header");
      }
      count("no-key");
      return function.get();
    }
    if (key.isEmpty() || key.length() > TandemHeaders.MAX_ID_LENGTH) {
      count("bad-key");
      return plain(request, 400, IDEMPOTENCY_KEY + " must be 1-" + TandemHeaders.MAX_ID_LENGTH
          + " characters");
    }
    int shard = Shards.forKey(key, shardCount);
    PayloadDigest fingerprint = fingerprint(request, requestBody);
    ClaimResult claim;
    try {
      claim = store.claim(key, shard, fingerprint, 0L, lease);
    } catch (ShardNotReadyException e) {
      count("not-ready");
      return retryLater(request, 503, "this instance is still restoring its idempotency records",
          retryAfter);
    }
    if (claim instanceof ClaimResult.Acquired) {
      return runFirst(request, key, shard, function);
    } else if (claim instanceof ClaimResult.AlreadyCompleted done) {
      count("replayed");
      return keeping.replay(request, done.record());
    } else if (claim instanceof ClaimResult.InProgress busy) {
      count("in-progress");
      Duration wait = busy.leaseRemaining().compareTo(retryAfter) < 0 ? busy.leaseRemaining()
          : retryAfter;
      return retryLater(request, 409, "a request with this " + IDEMPOTENCY_KEY
          + " is being processed", wait);
    } else if (claim instanceof ClaimResult.Conflict) {
      count("conflict");
      return plain(request, 422, "this " + IDEMPOTENCY_KEY
          + " was used with another request (method, path or body differ)");
    } else {
      count("dead-lettered");
      return plain(request, 422, "the request with this " + IDEMPOTENCY_KEY
          + " failed too many times; send it with a new key");
    }
  }

  private HttpResponseMessage runFirst(HttpRequestMessage<?> request, String key, int shard,
      Supplier<HttpResponseMessage> function) {
    HttpResponseMessage response;
    try {
      response = function.get();
    } catch (RuntimeException | Error e) {
      store.release(key, shard); // a retry runs it again, as the next attempt
      count("failed");
      throw e;
    }
    if (response == null || response.getStatusCode() >= 500) {
      store.release(key, shard);
      count("failed");
      return response;
    }
    if (isComeBackLater(response.getStatusCode())) {
      // 408/429 say "not done, come back (after Retry-After)": kept, they would answer every retry
      // for the record's TTL without the Retry-After that made them meaningful
      store.release(key, shard);
      count("not-kept-retryable");
      return response;
    }
    ResponseKeeping.Kept done = keeping.keep(key, shard, response);
    if (done.record().isDetectedDuplicate()) {
      count("duplicate-detected");
      LOG.warn("request with " + IDEMPOTENCY_KEY + " {} was processed in more than "
          + "one region (the retry arrived before the first claim replicated)", key);
    } else {
      count(done.wholeKept() ? "processed" : "processed-response-not-kept");
    }
    return response;
  }

  /** 408 Request Timeout and 429 Too Many Requests: answers that ask for a later retry. */
  static boolean isComeBackLater(int status) {
    return status == 408 || status == 429;
  }

  private static PayloadDigest fingerprint(HttpRequestMessage<?> request, byte[] body) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] head = (request.getHttpMethod() + " " + (request.getUri() == null ? ""
        : request.getUri().getRawPath()) + "\n").getBytes(StandardCharsets.UTF_8);
    out.writeBytes(head);
    out.writeBytes(body == null ? new byte[0] : body);
    return PayloadDigest.of(out.toByteArray());
  }

  private static HttpResponseMessage plain(HttpRequestMessage<?> request, int status, String text) {
    return request.createResponseBuilder(HttpStatusType.custom(status))
        .header("Content-Type", "text/plain; charset=utf-8").body(text).build();
  }

  private static HttpResponseMessage retryLater(HttpRequestMessage<?> request, int status,
      String text, Duration after) {
    long seconds = Math.max(1, (after.toMillis() + 999) / 1000);
    return request.createResponseBuilder(HttpStatusType.custom(status))
        .header("Retry-After", Long.toString(seconds))
        .header("Content-Type", "text/plain; charset=utf-8").body(text).build();
  }

  /** Header lookup ignoring case (the worker may hand names in lower case). */
  static String header(Map<String, String> headers, String name) {
    if (headers == null) {
      return null;
    }
    String v = headers.get(name);
    if (v != null) {
      return v;
    }
    for (Map.Entry<String, String> e : headers.entrySet()) {
      if (e.getKey().equalsIgnoreCase(name)) {
        return e.getValue();
      }
    }
    return null;
  }

  private void count(String outcome) {
    Counter.builder(AzureMeterNames.HTTP_REQUESTS).tag("region", region).tag("outcome", outcome)
        .register(registry).increment();
  }

  /** Builds an {@link IdempotentHttp}. */
  public static final class Builder {
    public static final Duration DEFAULT_LEASE = Duration.ofMinutes(5);
    public static final int DEFAULT_MAX_BODY_BYTES = 32 * 1024;
    public static final Duration DEFAULT_RETRY_AFTER = Duration.ofSeconds(2);

    private IdempotencyStore store;
    private int shardCount;
    private Duration lease = DEFAULT_LEASE;
    private int maxBodyBytes = DEFAULT_MAX_BODY_BYTES;
    private final List<String> storedHeaders = new ArrayList<>(List.of("Content-Type", "Location"));
    private Duration retryAfter = DEFAULT_RETRY_AFTER;
    private boolean requireKey;
    private MeterRegistry registry;
    private TandemRegion region;
    private boolean regionApplied;

    private Builder() {}

    /**
     * The store, shard count and meter registry from one {@link TandemRegion} (the object this
     * process's {@code TandemFunctions} and consumers are made from): its replicated view ({@link
     * TandemRegion#store()}, so a retry in the other region finds the first response), {@code
     * tandem.shards}, and its meter registry.
     *
     * <pre>{@code
     * IdempotentHttp http = IdempotentHttp.builder().region(region).build();
     * }</pre>
     *
     * <p>Not together with {@link #store}, {@link #shardCount} or {@link #meterRegistry}: {@link
     * #build} refuses the pair, naming both.
     */
    public Builder region(TandemRegion region) {
      this.region = Objects.requireNonNull(region, "region");
      return this;
    }

    /** The (replicated) idempotency store, e.g. {@code KafkaReplicationLog.replicatedStore()}. */
    public Builder store(IdempotencyStore store) {
      this.store = Objects.requireNonNull(store, "store");
      return this;
    }

    /** The store's shard count; keys are hashed into it. Required. */
    public Builder shardCount(int shardCount) {
      if (shardCount <= 0) {
        throw new IllegalArgumentException("shardCount must be > 0, got " + shardCount);
      }
      this.shardCount = shardCount;
      return this;
    }

    /**
     * How long a first request may run before a retry may run it again (its claim expires); longer
     * than the function's timeout. Default 5 minutes.
     */
    public Builder lease(Duration lease) {
      if (lease.isNegative() || lease.isZero()) {
        throw new IllegalArgumentException("lease must be positive, got " + lease);
      }
      this.lease = lease;
      return this;
    }

    /**
     * Largest response body stored for replay (default 32 KiB). The store's result limit caps the
     * whole stored form (escaped body and headers): a response over it is completed with its body,
     * or all but its status, left out (see the class doc).
     */
    public Builder maxBodyBytes(int maxBodyBytes) {
      if (maxBodyBytes < 0) {
        throw new IllegalArgumentException("maxBodyBytes must be >= 0, got " + maxBodyBytes);
      }
      this.maxBodyBytes = maxBodyBytes;
      return this;
    }

    /** Response headers stored and replayed (default Content-Type and Location); replaces them. */
    public Builder storedHeaders(String... names) {
      storedHeaders.clear();
      storedHeaders.addAll(List.of(names));
      return this;
    }

    /** The {@code Retry-After} of 409 and 503 answers (at most; default 2 s). */
    public Builder retryAfter(Duration retryAfter) {
      this.retryAfter = Objects.requireNonNull(retryAfter, "retryAfter");
      return this;
    }

    /** Whether a request without {@code Idempotency-Key} gets 400 instead of running (default no). */
    public Builder requireKey(boolean requireKey) {
      this.requireKey = requireKey;
      return this;
    }

    /** Where metrics go; default a new {@link SimpleMeterRegistry}. */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    /**
     * Builds it.
     *
     * @throws IllegalStateException if the store or shard count is missing, or the store's result
     *     limit ({@link IdempotencyStore#maxResultBytes()}, when it tells it) is below the size of
     *     the smallest stored response (the status alone), naming both sizes
     */
    public IdempotentHttp build() {
      if (region != null && !regionApplied) {
        List<String> given = new ArrayList<>();
        if (store != null) {
          given.add("store(...)");
        }
        if (shardCount != 0) {
          given.add("shardCount(...)");
        }
        if (registry != null) {
          given.add("meterRegistry(...)");
        }
        if (!given.isEmpty()) {
          throw new IllegalStateException("region(...) and " + String.join(", ", given) + " both "
              + "given: region(...) sets the store, shard count and meter registry from the "
              + "TandemRegion; remove " + String.join(", ", given));
        }
        store = region.store();
        shardCount = region.shardCount();
        registry = region.meterRegistry();
        regionApplied = true;
      }
      if (store == null) {
        throw new IllegalStateException("store(...) is required");
      }
      if (shardCount <= 0) {
        throw new IllegalStateException("shardCount(...) is required");
      }
      int limit;
      try {
        limit = store.maxResultBytes();
      } catch (UnsupportedOperationException e) {
        limit = -1; // not told: the store's refusals are handled form by form when completing
      }
      if (limit >= 0 && limit < MARKER_BYTES) {
        // with nothing kept, a replay cannot tell the first status: every retry would get 200,
        // even of a 4xx
        throw new IllegalStateException("the store keeps results up to " + limit + " bytes "
            + "(maxResultBytes), below the " + MARKER_BYTES + " bytes of the smallest stored "
            + "response (the status alone): replays could not tell the first status; raise the "
            + "store's maxResultBytes to at least " + MARKER_BYTES + " bytes");
      }
      if (registry == null) {
        registry = new SimpleMeterRegistry();
      }
      return new IdempotentHttp(this);
    }
  }
}
