package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One publish in flight: its message, its sequence number (the same for every region), the outcome
 * of each region's copy, and the caller's completion, delivered once every copy is settled
 * (acknowledged, spooled, or failed) — never earlier, whatever the ack policy.
 *
 * <p>The caller's completion is a {@link CompletableFuture} ({@link DualPublisher#publish}) or a plain
 * {@link Listener} ({@code TandemKafkaProducer}, which has its own future per record and does not need
 * a second one chained to it). Then the engine's own accounting ({@link Completion}: the published
 * counter, the flush ticket) runs, after the caller's completion, so a flush that returns has seen
 * every earlier publish's completion delivered.
 */
final class Publication {

  /** How one region's copy ended, when it was not acknowledged (an acknowledged copy is its SinkAck). */
  record Outcome(Kind kind, Throwable cause) {
    enum Kind {
      SPOOLED,
      FAILED
    }

    static Outcome spooled(Throwable why) {
      return new Outcome(Kind.SPOOLED, why);
    }

    static Outcome failed(Throwable why) {
      return new Outcome(Kind.FAILED, why);
    }
  }

  /** A caller's completion without a future: exactly one of the arguments is non-null. */
  interface Listener {
    void completed(PublishResult result, Throwable error);
  }

  /** The engine's accounting once the caller's completion was delivered. */
  interface Completion {
    void completed(boolean ok);

    /** The caller's completion threw {@code error} (already logged); called before {@link #completed}. */
    default void callbackFailed(Throwable error) {}
  }

  private static final Logger LOG = LoggerFactory.getLogger(Publication.class);

  final OutboundMessage message;
  final long seq;
  /** The caller's future (DualPublisher.publish), or null when {@link #listener} is used instead. */
  final CompletableFuture<PublishResult> result;
  private final Listener listener;
  private final Completion completion;
  private final List<RegionId> regions;
  private final AckPolicy policy;
  /**
   * Per region: null while unsettled, then the {@link SinkAck} of an acknowledged copy or an {@link
   * Outcome}; set once each through {@link #OUTCOMES} (a plain array and a VarHandle, where an
   * AtomicReferenceArray and an AtomicInteger were two more objects per publish).
   */
  private final Object[] outcomes;
  /**
   * Per region, the future {@link PublishResult#delivery} hands out for a copy that is not acknowledged
   * yet (spooled: the replay completes it). The array itself is created only when a copy goes to the
   * spool: an acknowledged copy's delivery is built from its ack when asked, so the common path
   * allocates none.
   */
  private volatile AtomicReferenceArray<CompletableFuture<SinkAck>> deliveries;
  /** Copies not settled yet, through {@link #UNSETTLED}; the settle that takes it to 0 completes. */
  @SuppressWarnings("unused")
  private volatile int unsettled;

  private static final VarHandle OUTCOMES = MethodHandles.arrayElementVarHandle(Object[].class);
  private static final VarHandle UNSETTLED;

  static {
    try {
      UNSETTLED = MethodHandles.lookup().findVarHandle(Publication.class, "unsettled", int.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }
  private byte[] encoded;

  Publication(OutboundMessage message, long seq, List<RegionId> regions, AckPolicy policy,
      Listener listener, Completion completion) {
    this(message, seq, regions, policy, listener, completion, false);
  }

  /**
   * As above; with {@code heldBySender} the sending thread holds one more count than there are copies
   * and gives it back with {@link #sendingDone} once it has released the ordering lock (and every sink
   * monitor). A copy that settles on the sending thread — rejected at once, spool full, sink closed, a
   * producer that answers inline — can then never deliver the caller's completion (a user's record
   * callback, a future's dependents) under those locks, where a slow callback would stall every other
   * publishing thread and one that waits for another thread's send would deadlock. No allocation: the
   * deferral is one more count in {@link #unsettled}, whichever thread takes it to 0 completes.
   */
  Publication(OutboundMessage message, long seq, List<RegionId> regions, AckPolicy policy,
      Listener listener, Completion completion, boolean heldBySender) {
    this.message = message;
    this.seq = seq;
    this.regions = regions;
    this.policy = policy;
    this.listener = listener;
    this.result = listener == null ? new CompletableFuture<>() : null;
    this.completion = completion;
    this.outcomes = new Object[regions.size()];
    // published with the Publication: it reaches sinks under the ordering lock
    this.unsettled = heldBySender ? regions.size() + 1 : regions.size();
  }

  /**
   * The sending thread's release of its count (see the constructor), after it let go of every lock:
   * if all copies already settled, the completion is delivered here, on the sending thread, lock-free.
   */
  void sendingDone() {
    if ((int) UNSETTLED.getAndAdd(this, -1) == 1) {
      complete();
    }
  }

  /** The spool encoding, computed at most once (only if some copy is spooled). */
  synchronized byte[] encoded() {
    if (encoded == null) {
      encoded = SpoolRecordCodec.encode(message);
    }
    return encoded;
  }

  /** The delivery future of region {@code index}'s copy (created on first use). */
  CompletableFuture<SinkAck> delivery(int index) {
    AtomicReferenceArray<CompletableFuture<SinkAck>> all = deliveries;
    if (all == null) {
      synchronized (this) {
        all = deliveries;
        if (all == null) {
          all = new AtomicReferenceArray<>(regions.size());
          deliveries = all;
        }
      }
    }
    CompletableFuture<SinkAck> f = all.get(index);
    if (f == null) {
      CompletableFuture<SinkAck> created = new CompletableFuture<>();
      f = all.compareAndSet(index, null, created) ? created : all.get(index);
    }
    return f;
  }

  /** Records that region {@code index}'s broker acknowledged its copy; the last settle completes. */
  void acknowledge(int index, SinkAck ack) {
    settle(index, (Object) ack);
  }

  /** Records a copy that was spooled or failed; the last settle completes the caller. */
  void settle(int index, Outcome outcome) {
    settle(index, (Object) outcome);
  }

  private void settle(int index, Object outcome) {
    if (!OUTCOMES.compareAndSet(outcomes, index, null, outcome)) {
      throw new IllegalStateException("copy " + index + " of " + message.id() + " settled twice");
    }
    AtomicReferenceArray<CompletableFuture<SinkAck>> all = deliveries;
    CompletableFuture<SinkAck> f = all == null ? null : all.get(index);
    if (f != null) {
      if (outcome instanceof SinkAck ack) {
        f.complete(ack);
      } else if (((Outcome) outcome).kind() == Outcome.Kind.FAILED) {
        f.completeExceptionally(((Outcome) outcome).cause());
      }
    }
    // getAndAdd is a full fence: the last settler sees every outcome stored before the others' decrements
    if ((int) UNSETTLED.getAndAdd(this, -1) == 1) {
      complete();
    }
  }

  private void complete() {
    PublishResult ok = null;
    Throwable failure = null;
    try {
      ok = outcome();
    } catch (PublishException e) {
      failure = e;
    }
    try {
      if (result != null) {
        if (ok != null) {
          result.complete(ok);
        } else {
          result.completeExceptionally(failure);
        }
      } else {
        listener.completed(ok, failure);
      }
    } catch (Throwable e) {
      // Throwable, not only RuntimeException: this runs on a region producer's I/O thread, the timer or
      // a spool thread, and kafka-clients catches only Exception around a record callback — an Error
      // from a user's callback (an AssertionError in a test, a NoClassDefFoundError) would kill the
      // producer's Sender thread and with it every later copy to that region.
      LOG.error("the completion (record callback) of publish {} threw; caught and counted in {}",
          message.id(), PublisherMeterNames.CALLBACK_ERRORS, e);
      completion.callbackFailed(e);
    } finally {
      completion.completed(ok != null);
    }
  }

  /** The result by the ack policy, or throws the {@link PublishException} naming each region. */
  private PublishResult outcome() {
    int n = regions.size();
    int acked = 0;
    boolean anyFailed = false;
    boolean anySpooled = false;
    SinkAck[] acks = new SinkAck[n];
    for (int i = 0; i < n; i++) {
      Object o = OUTCOMES.getVolatile(outcomes, i);
      if (o instanceof SinkAck ack) {
        acks[i] = ack;
        acked++;
      } else if (((Outcome) o).kind() == Outcome.Kind.SPOOLED) {
        anySpooled = true;
      } else {
        anyFailed = true;
      }
    }
    // every copy must be on a broker or in the spool, and enough brokers must have acknowledged
    if (!anyFailed && acked >= policy.required(n)) {
      CompletableFuture<SinkAck>[] pending = null;
      if (anySpooled) {
        @SuppressWarnings("unchecked")
        CompletableFuture<SinkAck>[] p = new CompletableFuture[n];
        for (int i = 0; i < n; i++) {
          if (acks[i] == null) {
            p[i] = delivery(i);
          }
        }
        pending = p;
      }
      return new PublishResult(message.envelope(), regions, acks, pending);
    }
    Map<RegionId, Throwable> why = new LinkedHashMap<>();
    Set<RegionId> ackedRegions = new HashSet<>();
    Set<RegionId> spooled = new HashSet<>();
    Map<RegionId, CompletableFuture<SinkAck>> deliveryOf = new LinkedHashMap<>();
    for (int i = 0; i < n; i++) {
      Object o = OUTCOMES.getVolatile(outcomes, i);
      RegionId r = regions.get(i);
      if (o instanceof SinkAck) {
        ackedRegions.add(r);
      } else if (((Outcome) o).kind() == Outcome.Kind.SPOOLED) {
        spooled.add(r);
        // the replay completes it, exceptionally if the region refuses the copy (removed from the
        // spool): callers must not take an empty spool for a delivery
        deliveryOf.put(r, delivery(i));
      } else {
        why.put(r, ((Outcome) o).cause());
      }
    }
    if (acked < policy.required(n)) {
      for (int i = 0; i < n; i++) {
        Object o = OUTCOMES.getVolatile(outcomes, i);
        if (o instanceof Outcome out && out.kind() == Outcome.Kind.SPOOLED) {
          why.put(regions.get(i),
              out.cause() != null ? out.cause() : new IllegalStateException("copy spooled, not acknowledged"));
        }
      }
    }
    throw new PublishException(message.id(), policy, why, ackedRegions, spooled, deliveryOf);
  }
}
