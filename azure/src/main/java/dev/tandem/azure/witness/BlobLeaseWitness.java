package dev.tandem.azure.witness;

import dev.tandem.azure.AzureMeterNames;
import com.azure.core.util.BinaryData;
import com.azure.core.util.Context;
import com.azure.storage.blob.BlobClient;
import com.azure.storage.blob.BlobContainerClient;
import com.azure.storage.blob.BlobServiceClientBuilder;
import com.azure.storage.blob.models.BlobErrorCode;
import com.azure.storage.blob.models.BlobProperties;
import com.azure.storage.blob.models.BlobRequestConditions;
import com.azure.storage.blob.models.BlobStorageException;
import com.azure.storage.blob.options.BlobAcquireLeaseOptions;
import com.azure.storage.blob.options.BlobReleaseLeaseOptions;
import com.azure.storage.blob.options.BlockBlobSimpleUploadOptions;
import com.azure.storage.blob.specialized.BlobLeaseClient;
import com.azure.storage.blob.specialized.BlobLeaseClientBuilder;
import com.azure.storage.common.policy.RequestRetryOptions;
import com.azure.storage.common.policy.RetryPolicyType;
import dev.tandem.consumer.witness.TakeoverWitness;
import dev.tandem.consumer.witness.WitnessGrant;
import dev.tandem.consumer.witness.WitnessUnavailableException;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Objects;
import java.util.UUID;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * A {@link TakeoverWitness} over Azure Blob Storage leases, the primitive Azure's own Event Hubs
 * processor uses for partition ownership. Put the storage account in a third location (neither
 * region), so that the region which can still reach it decides.
 *
 * <p>One block blob per shard ({@code <prefix><shard>}) in one container; both are created on first
 * use. Each region proposes a lease id that is a name-based UUID of its {@link RegionId}, so every
 * instance of a region, including one restarted after a crash, renews the region's lease instead of
 * being refused by it; a lost response retried by the SDK is harmless for the same reason.
 *
 * <p>Epoch fencing: the shard epoch of the last grant is recorded in the blob's metadata. A grant
 * needs a lease <em>and</em> an epoch that does not go back: higher than the recorded one, or equal to
 * it when the recorded holder is the candidate itself (a renewal). A stale candidate that wins a free
 * lease gives it straight back and is refused with the recorded holder and epoch, so it can learn the
 * epoch it must exceed.
 *
 * <p>Timing rule of the SPI: {@link WitnessGrant#validUntilNanos()} is the caller's monotonic clock
 * read <em>before</em> the first request was sent, plus the lease duration, minus the safety margin.
 * The Blob service starts the lease no earlier than it receives the request, so the holder stops
 * trusting the grant before the service can give the lease to anyone else (the margin covers clock
 * rate differences).
 *
 * <p>Refusals name the holder recorded in metadata. The Blob service never reveals a lease id, so a
 * contender that acquired but has not yet written its record is reported as unknown ({@code null}),
 * never as the wrong region.
 *
 * <p>Every request runs with a short timeout ({@link Builder#requestTimeout(Duration)}); an endpoint that
 * does not answer, or answers with an error other than the lease conflicts above, raises {@link
 * WitnessUnavailableException}. Tandem metadata on a shard blob that cannot be read (edited by hand)
 * raises {@link IllegalStateException} naming the blob, and the lease is left free. The connection
 * string is never printed: not by {@link #toString()}, not
 * in exception messages.
 *
 * <p>Metrics: {@code tandem.witness.acquire} and {@code tandem.witness.release} (counters, tags {@code
 * witness=azure-blob}, {@code region}, {@code outcome}), {@code tandem.witness.request} (timer, tag
 * {@code op}).
 *
 * <p>Thread-safe.
 */
public final class BlobLeaseWitness implements TakeoverWitness {

  /** Shortest lease the Blob service grants. */
  public static final Duration MIN_LEASE_DURATION = Duration.ofSeconds(15);
  /** Longest finite lease the Blob service grants. */
  public static final Duration MAX_LEASE_DURATION = Duration.ofSeconds(60);
  public static final Duration DEFAULT_LEASE_DURATION = Duration.ofSeconds(30);
  public static final Duration DEFAULT_SAFETY_MARGIN = Duration.ofSeconds(3);
  public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(5);
  public static final String DEFAULT_BLOB_PREFIX = "tandem-shard-";

  static final String WITNESS_TAG = "azure-blob";
  private static final String LEASE_ID_NAMESPACE = "tandem-witness:";
  /** Azure's container naming rule, checked here for a clear message instead of a 400 later. */
  private static final Pattern CONTAINER_NAME = Pattern.compile("[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}");

  private final BlobContainerClient container;
  private final String blobPrefix;
  private final Duration leaseDuration;
  private final Duration safetyMargin;
  private final Duration requestTimeout;
  private final TandemClock clock;
  private final MeterRegistry registry;
  private final Timer acquireTimer;
  private final Timer releaseTimer;
  private volatile boolean closed;

  private BlobLeaseWitness(Builder b, BlobContainerClient container) {
    this.container = container;
    this.blobPrefix = b.blobPrefix;
    this.leaseDuration = b.leaseDuration;
    this.safetyMargin = b.safetyMargin;
    this.requestTimeout = b.requestTimeout;
    this.clock = b.clock;
    this.registry = b.registry;
    this.acquireTimer = requestTimer("acquire");
    this.releaseTimer = requestTimer("release");
  }

  /** A new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The lease id a region proposes: the same for every instance of the region, different for every
   * region.
   */
  public static UUID leaseIdOf(RegionId region) {
    return UUID.nameUUIDFromBytes(
        (LEASE_ID_NAMESPACE + region.name()).getBytes(StandardCharsets.UTF_8));
  }

  /** The name of the blob that carries the lease of {@code shard}. */
  public String blobName(int shard) {
    return blobPrefix + shard;
  }

  @Override
  public WitnessGrant acquire(int shard, RegionId candidate, long epoch) {
    checkOpen();
    checkShard(shard);
    Objects.requireNonNull(candidate, "candidate");
    if (epoch < 0) {
      throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
    }
    // The timing rule: read before anything is sent, so the grant can only end early, never late.
    long requestedAt = clock.nanoTime();
    Timer.Sample sample = Timer.start(registry);
    String outcome = "unavailable";
    try {
      WitnessGrant grant = tryAcquire(shard, candidate, epoch, requestedAt);
      outcome = grant.granted() ? "granted" : "refused";
      return grant;
    } finally {
      sample.stop(acquireTimer);
      counter(AzureMeterNames.WITNESS_ACQUIRE, candidate, outcome).increment();
    }
  }

  private WitnessGrant tryAcquire(int shard, RegionId candidate, long epoch, long requestedAt) {
    String blobName = blobName(shard);
    BlobClient blob = container.getBlobClient(blobName);
    String leaseId = leaseIdOf(candidate).toString();
    BlobLeaseClient lease = new BlobLeaseClientBuilder().blobClient(blob).leaseId(leaseId).buildClient();
    BlobAcquireLeaseOptions options =
        new BlobAcquireLeaseOptions(Math.toIntExact(leaseDuration.toSeconds()));
    try {
      try {
        call(() -> lease.acquireLeaseWithResponse(options, requestTimeout, Context.NONE),
            "acquire", blobName);
      } catch (BlobStorageException e) {
        if (e.getStatusCode() != 404) {
          throw e;
        }
        createBlob(blob, blobName, e.getErrorCode());
        call(() -> lease.acquireLeaseWithResponse(options, requestTimeout, Context.NONE),
            "acquire", blobName);
      }
    } catch (BlobStorageException e) {
      if (e.getStatusCode() == 409) {
        // LeaseAlreadyPresent or LeaseIsBreaking...: another region holds the lease.
        return refusal(blob, blobName, candidate);
      }
      throw unavailable("acquire", blobName, e);
    }

    // This region holds the lease now. Fence on the recorded epoch before granting.
    BlobRequestConditions withLease = new BlobRequestConditions().setLeaseId(leaseId);
    BlobProperties properties = read(blob, blobName, withLease);
    LeaseRecord recorded;
    try {
      recorded = LeaseRecord.fromMetadata(properties.getMetadata(), blobName);
    } catch (IllegalStateException e) {
      // No epoch to fence on: grant nothing, and keep nothing.
      releaseQuietly(lease, blobName);
      throw e;
    }
    boolean renewal = candidate.equals(recorded.holder());
    boolean epochGoesBack = epoch < recorded.epoch()
        || (epoch == recorded.epoch() && recorded.holder() != null && !renewal);
    if (epochGoesBack) {
      if (!renewal) {
        // We took a free lease we may not keep; hand it back now rather than block the shard until
        // it expires. If this fails the lease simply runs out.
        releaseQuietly(lease, blobName);
      }
      return WitnessGrant.refused(recorded.holder(), recorded.epoch());
    }
    if (!renewal || epoch != recorded.epoch()) {
      var metadata = new LeaseRecord(candidate, epoch).toMetadata(properties.getMetadata());
      try {
        call(() -> blob.setMetadataWithResponse(metadata, withLease, requestTimeout, Context.NONE),
            "record the epoch on", blobName);
      } catch (BlobStorageException e) {
        throw unavailable("record the epoch on", blobName, e);
      }
    }
    return WitnessGrant.granted(candidate, epoch,
        requestedAt + leaseDuration.toNanos() - safetyMargin.toNanos());
  }

  private WitnessGrant refusal(BlobClient blob, String blobName, RegionId candidate) {
    LeaseRecord recorded = LeaseRecord.fromMetadata(read(blob, blobName, null).getMetadata(), blobName);
    // The lease is not ours, so a record naming us is one step behind the real holder: say unknown.
    RegionId holder = candidate.equals(recorded.holder()) ? null : recorded.holder();
    return WitnessGrant.refused(holder, recorded.epoch());
  }

  private BlobProperties read(BlobClient blob, String blobName, BlobRequestConditions conditions) {
    try {
      return call(() -> blob.getPropertiesWithResponse(conditions, requestTimeout, Context.NONE),
          "read", blobName).getValue();
    } catch (BlobStorageException e) {
      throw unavailable("read", blobName, e);
    }
  }

  /** Creates the container (if that was what was missing) and an empty shard blob, tolerating races. */
  private void createBlob(BlobClient blob, String blobName, BlobErrorCode missing) {
    if (BlobErrorCode.CONTAINER_NOT_FOUND.equals(missing)) {
      call(() -> container.createIfNotExistsWithResponse(null, requestTimeout, Context.NONE),
          "create the container of", blobName);
    }
    BlockBlobSimpleUploadOptions upload =
        new BlockBlobSimpleUploadOptions(BinaryData.fromBytes(new byte[0]))
            // never overwrite: another contender may have created (and leased) it meanwhile
            .setRequestConditions(new BlobRequestConditions().setIfNoneMatch("*"));
    try {
      call(() -> blob.getBlockBlobClient().uploadWithResponse(upload, requestTimeout, Context.NONE),
          "create", blobName);
    } catch (BlobStorageException e) {
      if (e.getStatusCode() != 409 && e.getStatusCode() != 412) {
        throw e;
      }
    }
  }

  @Override
  public void release(int shard, RegionId holder) {
    checkOpen();
    checkShard(shard);
    Objects.requireNonNull(holder, "holder");
    String blobName = blobName(shard);
    BlobLeaseClient lease = new BlobLeaseClientBuilder()
        .blobClient(container.getBlobClient(blobName))
        .leaseId(leaseIdOf(holder).toString())
        .buildClient();
    Timer.Sample sample = Timer.start(registry);
    String outcome = "unavailable";
    try {
      call(() -> lease.releaseLeaseWithResponse(new BlobReleaseLeaseOptions(), requestTimeout,
          Context.NONE), "release", blobName);
      outcome = "released";
    } catch (BlobStorageException e) {
      // 404: no blob, so no lease. 409: the lease is not this region's (or there is none): idempotent.
      if (e.getStatusCode() != 404 && e.getStatusCode() != 409) {
        throw unavailable("release", blobName, e);
      }
      outcome = "not-held";
    } finally {
      sample.stop(releaseTimer);
      counter(AzureMeterNames.WITNESS_RELEASE, holder, outcome).increment();
    }
  }

  private void releaseQuietly(BlobLeaseClient lease, String blobName) {
    try {
      call(() -> lease.releaseLeaseWithResponse(new BlobReleaseLeaseOptions(), requestTimeout,
          Context.NONE), "release", blobName);
    } catch (RuntimeException e) {
      // The lease expires by itself within leaseDuration; the refusal is what matters to the caller.
    }
  }

  @Override
  public Duration leaseDuration() {
    return leaseDuration;
  }

  /** The safety margin subtracted from every grant's validity. */
  public Duration safetyMargin() {
    return safetyMargin;
  }

  @Override
  public void close() {
    // The synchronous clients share the SDK's HTTP client and hold nothing of ours to free.
    closed = true;
  }

  @Override
  public String toString() {
    return "BlobLeaseWitness[account=" + container.getAccountName()
        + ", container=" + container.getBlobContainerName()
        + ", blobPrefix=" + blobPrefix
        + ", lease=" + leaseDuration + ", margin=" + safetyMargin + "]";
  }

  /**
   * Runs one SDK request. Lease conflicts and missing blobs come back as {@link BlobStorageException}
   * for the caller to interpret; anything else (timeout, refused connection, DNS) means the witness
   * did not answer.
   */
  private <T> T call(Supplier<T> request, String what, String blobName) {
    try {
      return request.get();
    } catch (BlobStorageException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new WitnessUnavailableException("Blob lease witness " + where(blobName) + " did not answer "
          + "the request to " + what + " it within " + requestTimeout + " ("
          + e.getClass().getSimpleName() + ")", e);
    }
  }

  private WitnessUnavailableException unavailable(String what, String blobName,
      BlobStorageException e) {
    return new WitnessUnavailableException("Blob lease witness " + where(blobName)
        + " answered the request to " + what + " it with HTTP " + e.getStatusCode()
        + (e.getErrorCode() == null ? "" : " " + e.getErrorCode()), e);
  }

  private String where(String blobName) {
    return container.getAccountName() + "/" + container.getBlobContainerName() + "/" + blobName;
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException(this + " is closed");
    }
  }

  private static void checkShard(int shard) {
    if (shard < 0) {
      throw new IllegalArgumentException("shard must be >= 0, got " + shard);
    }
  }

  private Counter counter(String name, RegionId region, String outcome) {
    return Counter.builder(name)
        .tag("witness", WITNESS_TAG)
        .tag("region", region.name())
        .tag("outcome", outcome)
        .register(registry);
  }

  private Timer requestTimer(String op) {
    return Timer.builder(AzureMeterNames.WITNESS_REQUEST)
        .description("round trips to the witness, including failed ones")
        .tag("witness", WITNESS_TAG)
        .tag("op", op)
        .register(registry);
  }

  /**
   * Builds a {@link BlobLeaseWitness} from a connection string and container name, or from a
   * {@link BlobContainerClient} the application already configured (e.g. with a managed identity).
   */
  public static final class Builder {

    private String connectionString;
    private String containerName;
    private BlobContainerClient containerClient;
    private String blobPrefix = DEFAULT_BLOB_PREFIX;
    private Duration leaseDuration = DEFAULT_LEASE_DURATION;
    private Duration safetyMargin = DEFAULT_SAFETY_MARGIN;
    private Duration requestTimeout = DEFAULT_REQUEST_TIMEOUT;
    private TandemClock clock = TandemClock.system();
    private MeterRegistry registry;

    private Builder() {}

    /**
     * The storage account's connection string and the container of the lease blobs. The witness
     * builds its own client with a fixed, short retry policy bounded by the request timeout.
     */
    public Builder connectionString(String connectionString, String containerName) {
      this.connectionString = Objects.requireNonNull(connectionString, "connectionString");
      this.containerName = Objects.requireNonNull(containerName, "containerName");
      return this;
    }

    /**
     * An existing container client. Its retry policy is the application's; every request is still cut
     * at the request timeout.
     */
    public Builder containerClient(BlobContainerClient containerClient) {
      this.containerClient = Objects.requireNonNull(containerClient, "containerClient");
      return this;
    }

    /** Prefix of the shard blob names (default {@value #DEFAULT_BLOB_PREFIX}). */
    public Builder blobPrefix(String blobPrefix) {
      this.blobPrefix = Objects.requireNonNull(blobPrefix, "blobPrefix");
      return this;
    }

    /** Lease duration: whole seconds from 15 to 60 (the Blob service's range); default 30 s. */
    public Builder leaseDuration(Duration leaseDuration) {
      this.leaseDuration = Objects.requireNonNull(leaseDuration, "leaseDuration");
      return this;
    }

    /** Subtracted from every grant's validity (clock rate differences); default 3 s. */
    public Builder safetyMargin(Duration safetyMargin) {
      this.safetyMargin = Objects.requireNonNull(safetyMargin, "safetyMargin");
      return this;
    }

    /** How long one call may wait for the Blob service before it is unavailable; default 5 s. */
    public Builder requestTimeout(Duration requestTimeout) {
      this.requestTimeout = Objects.requireNonNull(requestTimeout, "requestTimeout");
      return this;
    }

    /** The monotonic clock grants are computed on (tests); default the system clock. */
    public Builder clock(TandemClock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Where metrics go; default a private {@link SimpleMeterRegistry}. */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    /**
     * Validates the settings and builds the witness. No request is sent: the container and the shard
     * blobs are created on first use.
     */
    public BlobLeaseWitness build() {
      if ((connectionString == null) == (containerClient == null)) {
        throw new IllegalStateException(
            "set exactly one of connectionString(...) and containerClient(...)");
      }
      if (leaseDuration.compareTo(MIN_LEASE_DURATION) < 0
          || leaseDuration.compareTo(MAX_LEASE_DURATION) > 0
          || leaseDuration.toNanosPart() != 0) {
        throw new IllegalArgumentException("leaseDuration must be whole seconds from 15 to 60 "
            + "(the Blob service's lease range), got " + leaseDuration);
      }
      if (safetyMargin.isNegative() || safetyMargin.isZero()
          || safetyMargin.compareTo(leaseDuration.dividedBy(2)) > 0) {
        throw new IllegalArgumentException(
            "safetyMargin must be positive and at most half the lease duration, got " + safetyMargin);
      }
      if (requestTimeout.isNegative() || requestTimeout.isZero()
          || requestTimeout.compareTo(leaseDuration.minus(safetyMargin)) >= 0) {
        throw new IllegalArgumentException("requestTimeout must be positive and shorter than "
            + "leaseDuration - safetyMargin (a grant must outlast its request), got " + requestTimeout);
      }
      if (registry == null) {
        registry = new SimpleMeterRegistry();
      }
      BlobContainerClient container = containerClient;
      if (container == null) {
        if (!CONTAINER_NAME.matcher(containerName).matches()) {
          throw new IllegalArgumentException("container name must be 3-63 characters of [a-z0-9-], "
              + "starting and ending with a letter or digit, no '--'; got '" + containerName + "'");
        }
        container = clientFor(connectionString, containerName, requestTimeout);
      }
      return new BlobLeaseWitness(this, container);
    }

    private static BlobContainerClient clientFor(String connectionString, String containerName,
        Duration requestTimeout) {
      // Fixed short retries inside the request timeout: a retried acquire is harmless (same lease id).
      RequestRetryOptions retries = new RequestRetryOptions(RetryPolicyType.FIXED, 3, requestTimeout,
          Duration.ofMillis(100), Duration.ofMillis(100), null);
      try {
        return new BlobServiceClientBuilder()
            .connectionString(connectionString)
            .retryOptions(retries)
            .buildClient()
            .getBlobContainerClient(containerName);
      } catch (RuntimeException e) {
        // The SDK's message may quote the connection string; ours must not, so the cause is dropped.
        throw new IllegalArgumentException("the Blob Storage connection string is not valid ("
            + e.getClass().getSimpleName() + "; its content is not shown)");
      }
    }
  }
}
