package dev.tandem.consumer.ownership;

import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.store.ShardLease;
import dev.tandem.store.StoreException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The owning side of remote ownership requests ({@link OwnershipAdmin}; {@code
 * docs/design.md#remote-ownership-requests}): one per region object, called by whatever runs the
 * shards' work — the Kafka poll loop between batches, a Spring or Functions heartbeat tick — with the
 * shards that caller serves now. For each live request addressed to this region it hands over every
 * served shard whose lease names this region ({@link ShardOwnership#handOver}: drain, the destination
 * acknowledges every change, epoch + 1) and writes an {@link OwnershipResult}.
 *
 * <p>Rules, each with a log line an operator can find ({@code Tandem ownership request ...}):
 *
 * <ul>
 *   <li><b>once</b>: a (request, shard) is acted on at most once — a result already read from the
 *       channel (another instance, an earlier run of this one) or written here marks it done, and a
 *       re-delivered request finds the lease moved;
 *   <li><b>deadline</b>: a request carrying a time-out ({@link OwnershipRequest#timeoutMillis},
 *       version 2) and read after this reader caught up (so written after it opened) ends that long
 *       after its reading, on this process's monotonic clock: neither the issuer's wall clock nor
 *       this machine's matters. A request without one (an older client), or read from the backlog
 *       (written before this reader opened: its age is known only from the issuer's wall clock),
 *       ends at its wall-clock deadline or at the same time left measured on the monotonic clock
 *       from its reading, whichever comes first; read at or after that deadline it is dropped
 *       ({@code expired}). A handover is bounded by the time left, so nothing moves after the
 *       owner's window closed;
 *   <li><b>not the owner</b>: a request from another region is not for this one (ignored quietly);
 *       a served shard whose lease does not name this region is skipped ({@code ignored}, logged once).
 * </ul>
 *
 * <p>Meters: {@code tandem.ownership.requests} (tag {@code outcome}: received, acted, expired,
 * ignored) and {@code tandem.ownership.request.handover} (a timer, tag {@code outcome}: moved,
 * failed), {@code tandem.ownership.requests.reader.failed} (a gauge, 1 once the channel's reader
 * stopped for good, e.g. not authorized: {@link #failure()}, logged once, shown by the region's
 * health). A caller that processes on the calling thread (the Kafka loop) calls {@link #act} between
 * batches; a caller whose work runs on other threads (Functions) may call it from its timer thread:
 * the handover waits for their batches ({@link OwnershipPollLoop#beginWork}).
 *
 * <p>Thread-safe: the bookkeeping is serialised, the handovers of different shards run on their
 * callers' threads at the same time (a call never waits for another loop's handover).
 */
public final class OwnershipRequests implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(OwnershipRequests.class);

  private final ShardOwnership ownership;
  private final OwnershipRequestChannel channel;
  private final String instance;
  private final TandemClock clock;
  private final RegionId self;
  /** Live requests addressed to this region, by id. */
  private final Map<String, OwnershipRequest> pending = new LinkedHashMap<>();
  /** "id|shard" answered here or seen answered on the channel. */
  private final Set<String> answered = new HashSet<>();
  /** "id|shard" being handed over now by one of the loops calling {@link #act}. */
  private final Set<String> inFlight = new HashSet<>();
  /** "id|shard" skipped because the lease did not name this region (logged once). */
  private final Set<String> skipped = new HashSet<>();
  private final Counter received;
  private final Counter acted;
  private final Counter expired;
  private final Counter ignored;
  private final Timer moved;
  private final Timer failed;
  /**
   * Per pending request id: the monotonic time ({@link TandemClock#nanoTime()}) at which its window
   * closes here, fixed when it was read (its time-out, or the time its wall-clock deadline left).
   * A step of this machine's wall clock cannot keep a request live after that.
   */
  private final Map<String, Long> monotonicDeadline = new java.util.HashMap<>();
  /**
   * Pending request ids whose issuer's wall-clock deadline also ends them: version-1 requests and
   * requests read from the backlog. The others are measured on the monotonic clock only.
   */
  private final Set<String> wallBound = new HashSet<>();
  /**
   * Whether a drain of the channel began after it had caught up: every record drained from then on
   * was written after the reader opened, so its reading is (up to the reader's lag) its writing and
   * its time-out can be measured from it.
   */
  private boolean readerLive;
  private final MeterRegistry registry;
  /** Removed by close(): a later object of the same region registers its own channel's gauge. */
  private final io.micrometer.core.instrument.Gauge readerFailed;
  /** Whether the reader's failure was logged here already (once). */
  private boolean failureLogged;
  private volatile boolean closed;

  /**
   * The owning side for {@code ownership}'s region.
   *
   * @param instance this process's instance id, written into results
   */
  public OwnershipRequests(ShardOwnership ownership, OwnershipRequestChannel channel,
      String instance, TandemClock clock, MeterRegistry registry) {
    this.ownership = Objects.requireNonNull(ownership, "ownership");
    this.channel = Objects.requireNonNull(channel, "channel");
    this.instance = Objects.requireNonNull(instance, "instance");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.self = ownership.self();
    String r = self.name();
    received = requests(registry, r, "received");
    acted = requests(registry, r, "acted");
    expired = requests(registry, r, "expired");
    ignored = requests(registry, r, "ignored");
    moved = handovers(registry, r, "moved");
    failed = handovers(registry, r, "failed");
    this.registry = registry;
    this.readerFailed = io.micrometer.core.instrument.Gauge.builder(
            dev.tandem.consumer.ConsumerMeterNames.OWNERSHIP_REQUESTS_READER_FAILED, channel,
            c -> c.failure().isPresent() ? 1 : 0)
        .tag("region", r)
        .description("1 while the reader of this region's ownership request topic has stopped for"
            + " good (e.g. not authorized): evacuate, return and move are not acted on here")
        .register(registry);
  }

  /**
   * Why this object can no longer read requests (its channel's reader stopped for good, e.g. not
   * authorized to read the topic); empty while it reads. {@link
   * dev.tandem.consumer.TandemRegion#health()} reports it.
   */
  public java.util.Optional<String> failure() {
    return channel.failure().map(e -> "the ownership request topic is not read: " + e);
  }

  private static Counter requests(MeterRegistry registry, String region, String outcome) {
    return Counter.builder(dev.tandem.consumer.ConsumerMeterNames.OWNERSHIP_REQUESTS).tag("region", region)
        .tag("outcome", outcome)
        .description("remote ownership requests (evacuate, return, move) read by this region's"
            + " owner: received, shard handovers acted on, expired on arrival, shards ignored")
        .register(registry);
  }

  private static Timer handovers(MeterRegistry registry, String region, String outcome) {
    return Timer.builder(dev.tandem.consumer.ConsumerMeterNames.OWNERSHIP_REQUEST_HANDOVER).tag("region", region)
        .tag("outcome", outcome)
        .description("planned handovers performed for remote ownership requests")
        .register(registry);
  }

  /**
   * Reads what arrived and acts on every live request for the shards in {@code served} (the shards
   * whose work the caller runs now: the Kafka consumer's assigned partitions). Returns at once when
   * nothing is pending; a handover blocks up to the request's deadline.
   *
   * @return the results written now (empty most of the time)
   */
  public List<OwnershipResult> act(Set<Integer> served) {
    // the bookkeeping is serialised, the handovers are not: a handover waits up to the request's
    // deadline, and another poll loop of this region object (another topic) must keep running,
    // renewing its own shards' leases and handing its own shards over meanwhile
    List<Map.Entry<OwnershipRequest, Integer>> todo = new ArrayList<>();
    synchronized (this) {
      if (closed) {
        return List.of();
      }
      if (!failureLogged && channel.failure().isPresent()) {
        // once, where an operator of this region looks (the channel logged the cause with its
        // stack trace on its own thread); the gauge and health() keep showing it
        failureLogged = true;
        log.error("Tandem ownership requests of {} instance {} are NOT read any more ({}): this "
            + "instance's shards are reported NOT_ANSWERED to evacuate, return and move until it "
            + "restarts", self, instance, channel.failure().get().toString());
      }
      long now = clock.wallMillis();
      // asked before draining: when true, every record written before the reader opened is queued
      boolean caughtUp = channel.caughtUp();
      // records drained now may still be from the backlog unless an earlier drain began caught up
      boolean backlog = !readerLive;
      for (Object o : channel.poll()) {
        if (o instanceof OwnershipResult r) {
          answered.add(r.requestId() + "|" + r.shard());
        } else if (o instanceof OwnershipRequest q) {
          take(q, now, backlog);
        }
      }
      readerLive |= caughtUp;
      if (pending.isEmpty() || !caughtUp) {
        // not before the results written before this reader opened are read: a request is ahead
        // of its results in the channel, and a shard answered FAILED must not move now
        return List.of();
      }
      for (var it = pending.values().iterator(); it.hasNext(); ) {
        OwnershipRequest q = it.next();
        if (expired(q)) {
          // the client has given up: nothing may move for it any more
          log.info("Tandem ownership request {} ({} -> {}) reached its deadline in {} instance {}",
              q.id(), q.from(), q.to(), self, instance);
          it.remove();
          monotonicDeadline.remove(q.id());
          wallBound.remove(q.id());
          // a copy read later is past its deadline (expired on arrival): its marks are not needed
          answered.removeIf(k -> k.startsWith(q.id() + "|"));
          skipped.removeIf(k -> k.startsWith(q.id() + "|"));
          continue;
        }
        for (int shard : q.shards()) {
          String key = q.id() + "|" + shard;
          // inFlight: another loop of this object is handing it over now
          if (served.contains(shard) && !answered.contains(key) && inFlight.add(key)) {
            todo.add(Map.entry(q, shard));
          }
        }
      }
    }
    List<OwnershipResult> out = new ArrayList<>();
    for (Map.Entry<OwnershipRequest, Integer> e : todo) {
      try {
        OwnershipResult r = actOn(e.getKey(), e.getValue());
        if (r != null) {
          out.add(r);
        }
      } finally {
        synchronized (this) {
          inFlight.remove(e.getKey().id() + "|" + e.getValue());
        }
      }
    }
    return out;
  }

  /**
   * Takes {@code q} in when it is for this region and live. {@code backlog}: it may have been
   * written before this reader opened, so only the issuer's wall clock tells its age.
   */
  private void take(OwnershipRequest q, long now, boolean backlog) {
    if (!q.from().equals(self) || pending.containsKey(q.id())) {
      return; // for the other region (it reads its own topic), or read twice
    }
    received.increment();
    boolean byWall = q.timeoutMillis() <= 0 || backlog;
    long window = !byWall ? q.timeoutMillis()
        : q.timeoutMillis() <= 0 ? q.deadlineMillis() - now
        // never longer than the issuer allowed, whatever the wall clocks say
        : Math.min(q.timeoutMillis(), q.deadlineMillis() - now);
    if (window <= 0) {
      expired.increment();
      log.info("Tandem ownership request {} ({} -> {}, shards {}, issued by {}) expired {} ms before "
          + "{} instance {} read it (by the issuer's wall clock{}): ignored", q.id(), q.from(),
          q.to(), q.shards(), q.issuedBy(), -window, self, instance,
          q.timeoutMillis() > 0 ? ", it was written before this reader opened" : "");
      return;
    }
    log.info("Tandem ownership request {} received by {} instance {}: hand shards {} over to {} "
        + "within {} ms (issued by {}; {})", q.id(), self, instance, q.shards(), q.to(), window,
        q.issuedBy(), byWall ? "bounded by the issuer's wall-clock deadline"
            : "its time-out, measured here from now");
    pending.put(q.id(), q);
    monotonicDeadline.put(q.id(), clock.nanoTime() + TimeUnit.MILLISECONDS.toNanos(window));
    if (byWall) {
      wallBound.add(q.id());
    }
  }

  /** Whether {@code q}'s deadline passed by the wall clock or by the monotonic one. */
  private synchronized boolean expired(OwnershipRequest q) {
    return leftMillis(q) <= 0;
  }

  /**
   * Time left for {@code q}: on the monotonic clock from its reading, and for a wall-bound request
   * ({@link #wallBound}) the less of that and its wall-clock deadline's.
   */
  private synchronized long leftMillis(OwnershipRequest q) {
    Long mono = monotonicDeadline.get(q.id());
    if (mono == null) {
      return 0; // removed from pending: it expired
    }
    long left = TimeUnit.NANOSECONDS.toMillis(mono - clock.nanoTime());
    return wallBound.contains(q.id())
        ? Math.min(left, q.deadlineMillis() - clock.wallMillis()) : left;
  }

  /** Hands {@code shard} over for {@code q}; null when this process does not act on it. */
  private OwnershipResult actOn(OwnershipRequest q, int shard) {
    String key = q.id() + "|" + shard;
    ShardLease l;
    try {
      l = ownership.lease(shard);
    } catch (StoreException e) {
      return null; // not restored here yet: the next call tries again
    }
    if (!l.owner().equals(self)) {
      // moved already (a re-delivered request, or a takeover): never move twice
      boolean first;
      synchronized (this) {
        first = skipped.add(key);
      }
      if (first) {
        ignored.increment();
        log.info("Tandem ownership request {} ignored for shard {} by {} instance {}: its lease "
            + "names {} at epoch {}, not this region", q.id(), shard, self, instance, l.owner(),
            l.epoch());
      }
      return null;
    }
    long left = leftMillis(q);
    if (left <= 0) {
      return null;
    }
    HandoverReport h;
    try {
      h = ownership.handOver(shard, q.to(), Duration.ofMillis(left), q.evacuation());
    } catch (IllegalStateException | StoreException e) {
      // already being handed over (another consumer of this region object), or the lease moved
      log.info("Tandem ownership request {}: shard {} not handed over by {} instance {} now: {}",
          q.id(), shard, self, instance, e.getMessage());
      return null;
    }
    synchronized (this) {
      answered.add(key);
    }
    acted.increment();
    (h.moved() ? moved : failed).record(h.took().toNanos(), TimeUnit.NANOSECONDS);
    OwnershipResult r = OwnershipResult.of(q, h, instance);
    try {
      channel.answer(r);
    } catch (RuntimeException e) {
      // the lease tells the client what happened: it reads it for a shard without a result
      log.warn("Tandem ownership request {}: the result of shard {} could not be written ({}); the "
          + "client reads the lease instead", q.id(), shard, e.toString());
    }
    if (h.moved()) {
      log.info("Tandem ownership request {}: {} instance {} handed shard {} over to {} at epoch {} "
          + "in {} ms", q.id(), self, instance, shard, q.to(), h.newEpoch(), h.took().toMillis());
    } else {
      log.warn("Tandem ownership request {}: {} instance {} could not hand shard {} over to {}: {}",
          q.id(), self, instance, shard, q.to(), h.detail());
    }
    return r;
  }

  /** Closes the channel; later calls of {@link #act} do nothing. */
  @Override
  public void close() {
    closed = true;
    registry.remove(readerFailed);
    synchronized (this) {
      channel.close();
    }
  }
}
