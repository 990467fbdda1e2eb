package dev.tandem.consumer.kafka.internal;

import dev.tandem.consumer.ConsumerMeterNames;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.consumer.ownership.TakeoverReport;
import dev.tandem.core.Envelope;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.RegionalSink;
import dev.tandem.store.StoreException;
import dev.tandem.store.StoreListener;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The follower side: the records of a shard this region does not own are held, its partition paused
 * (bounded by one poll), until the owner's completion replicates; then they are acknowledged from the
 * head, in offset order — a record is acknowledged only once every record before it is (the offset
 * commit says "everything below ran"). An unreadable copy is only acknowledged (the owner dead-letters
 * it in its region). After {@code maxHold} the head copy is re-sent to the owner region's topic (same
 * id: the owner may never have received its own copy) and held on. If this region takes the shard
 * over (or owned it all along, e.g. its policy withheld processing for a moment), the held records
 * are released to the owner's batch under the new epoch. A follower never runs the handler for a
 * shard it does not own.
 *
 * <p>{@link #count()} is kept at every change of what is held (not sampled once per loop turn), and
 * is 0 once {@link #clear()} ran at the loop's stop. Loop thread only, except {@link #count()} and
 * {@link #completionListener()}'s calls.
 *
 * <p>Release without a loop turn's delay: the id of each held partition's head copy (the one a drain
 * stopped at) is watched; the store listener ({@link #completionListener()}) says when one of them
 * turns terminal in this region's store, and the loop, which polls in short slices while a head is
 * watched ({@link #watching()}), ends its poll then ({@link #completionApplied()}) and drains at once
 * — before, a held copy was looked at again only when the poll returned: after the whole poll timeout
 * when the loop's other partitions were idle (issue 20).
 */
public final class FollowerHold {

  // the category these lines had before the split (an operator's log config names it)
  private static final Logger log =
      LoggerFactory.getLogger(dev.tandem.consumer.kafka.TandemKafkaConsumer.class);

  /** What the follower asks about a copy: its envelope, and whether its id is terminal here. */
  public interface Completions {
    /** The copy's envelope, empty if unreadable. */
    Optional<Envelope> envelopeOf(IncomingMessage m);

    /** Whether the copy's id is terminal (completed or dead-lettered) in this region's store. */
    boolean terminal(IncomingMessage m);

    /** The processor's view. */
    static Completions of(OnceProcessor p) {
      return new Completions() {
        @Override
        public Optional<Envelope> envelopeOf(IncomingMessage m) {
          return p.envelopeOf(m);
        }

        @Override
        public boolean terminal(IncomingMessage m) {
          return p.terminalPhase(m).isPresent();
        }
      };
    }
  }

  /** What the follower asks the ownership (null ownership: every shard is owned here). */
  public interface Ownership {
    boolean owns(int shard);

    /** Looks at a followed shard (a takeover when the owner fell silent); present: taken over. */
    Optional<TakeoverReport> observe(int shard, Duration heldFor);

    /** The region the shard's lease names. */
    RegionId owner(int shard);

    /** {@code o}'s view, or every shard owned here when {@code o} is null. */
    static Ownership of(ShardOwnership o) {
      if (o == null) {
        return null;
      }
      return new Ownership() {
        @Override
        public boolean owns(int shard) {
          return o.owns(shard);
        }

        @Override
        public Optional<TakeoverReport> observe(int shard, Duration heldFor) {
          return o.pollLoop().observe(shard, heldFor);
        }

        @Override
        public RegionId owner(int shard) {
          return o.lease(shard).owner();
        }
      };
    }
  }

  /** Records of a followed shard waiting for their completion to replicate. */
  private static final class Held {
    final ArrayDeque<ConsumerRecord<byte[], byte[]>> records = new ArrayDeque<>();
    long sinceNanos;
    final Set<String> resent = new HashSet<>();
  }

  private final LoopContext ctx;
  private final Completions completions;
  private final Ownership ownership;
  private final Map<RegionId, RegionalSink> resendSinks;
  private final Duration maxHold;
  private final OffsetCommitter committer;
  private final AssignedPartitions assigned;
  private final Map<TopicPartition, Held> held = new HashMap<>();
  /** Per held partition, the id of its head copy, watched for its completion (loop thread). */
  private final Map<TopicPartition, String> headOf = new HashMap<>();
  /**
   * The watched head ids, each counted once per held partition whose head it is: two held heads can
   * carry the same id (two topics of one loop, an id held in two shards), and one of them ending its
   * wait must not stop the watch of the other (review s8-r R2). Its store listener marks {@link
   * CompletionWatch#applied()} when a watched head turned terminal; the loop clears the mark.
   */
  private final CompletionWatch watch = new CompletionWatch();
  /** Records held now: written by the loop at every change, read by health and the gauge. */
  private final AtomicLong count = new AtomicLong();
  private final Counter acknowledged;
  private final Counter resends;
  private final Timer holdTime;

  /**
   * @param ownership null: every shard is owned here (nothing is ever held)
   * @param resendSinks per owner region, the sink of its topic for a re-send after maxHold
   */
  public FollowerHold(LoopContext ctx, Completions completions, Ownership ownership,
      Map<RegionId, RegionalSink> resendSinks, Duration maxHold, OffsetCommitter committer,
      AssignedPartitions assigned) {
    this.ctx = ctx;
    this.completions = completions;
    this.ownership = ownership;
    this.resendSinks = Map.copyOf(resendSinks);
    this.maxHold = maxHold;
    this.committer = committer;
    this.assigned = assigned;
    String r = ctx.region().name();
    acknowledged = Counter.builder(ConsumerMeterNames.FOLLOWER_ACKNOWLEDGED).tag("region", r)
        .description("records a follower acknowledged because the owner completed them")
        .register(ctx.meters());
    resends = Counter.builder(ConsumerMeterNames.FOLLOWER_RESENT).tag("region", r)
        .description("held copies re-sent to the owner region after maxHold").register(ctx.meters());
    holdTime = Timer.builder(ConsumerMeterNames.FOLLOWER_HOLD).tag("region", r)
        .description("how long a follower held a record until its completion replicated")
        .register(ctx.meters());
  }

  /** Records held now (any thread). */
  public long count() {
    return count.get();
  }

  /**
   * The listener to add to this region's store: it marks {@link #completionApplied()} when the id of
   * a held head copy turns terminal (the owner's COMPLETED or dead letter replicated, or written
   * here). Quick and non-blocking, as a store listener must be: a look-up in a map that is empty
   * unless a copy is held.
   */
  public StoreListener completionListener() {
    return watch.listener();
  }

  /**
   * The watch of the held heads' ids: the loop attaches it to its store when ownership is on ({@link
   * CompletionWatch#attach}) and closes it when it closes (the listener removed).
   */
  public CompletionWatch completions() {
    return watch;
  }

  /** Whether a held copy waits for its completion (its id watched by the store listener). */
  public boolean watching() {
    return !headOf.isEmpty();
  }

  /**
   * How long the youngest wait of a held head has lasted (the loop's clock; 0 when none waits):
   * the loop's poll slices grow with it (a head whose owner has been silent for long is not about
   * to complete; see {@code TandemKafkaConsumer.poll}).
   */
  public long youngestWaitNanos() {
    long now = ctx.clock().nanoTime();
    long youngest = Long.MAX_VALUE;
    for (Held h : held.values()) {
      if (h.sinceNanos != 0) {
        youngest = Math.min(youngest, now - h.sinceNanos);
      }
    }
    return youngest == Long.MAX_VALUE ? 0 : Math.max(0, youngest);
  }

  /**
   * Whether a watched head's completion applied since {@link #clearCompletionApplied()} (any
   * thread): the next drain acknowledges it.
   */
  public boolean completionApplied() {
    return watch.applied();
  }

  /**
   * Clears the mark; the loop calls it after its poll, BEFORE it drains, so a completion applied
   * after this drain's look sets it again and ends the next poll at once.
   */
  public void clearCompletionApplied() {
    watch.clearApplied();
  }

  /** Watches {@code id} as {@code tp}'s head; false if it already was (nothing new to look at). */
  private boolean watch(TopicPartition tp, String id) {
    String before = headOf.put(tp, id);
    if (id.equals(before)) {
      return false;
    }
    if (before != null) {
      watch.unwatch(before);
    }
    watch.watch(id);
    return true;
  }

  private void unwatch(TopicPartition tp) {
    String id = headOf.remove(tp);
    if (id != null) {
      watch.unwatch(id);
    }
  }

  /** Whether {@code tp}'s records are held (its newly fetched ones join the hold). */
  public boolean holds(TopicPartition tp) {
    return held.containsKey(tp);
  }

  /** Newly fetched records of a held partition: behind the held ones, in order. */
  public void append(TopicPartition tp, List<ConsumerRecord<byte[], byte[]>> recs) {
    held.get(tp).records.addAll(recs);
    recount();
  }

  /** Records of a shard this region does not own: held, and acknowledged as far as they can be. */
  public void follow(TopicPartition tp, List<ConsumerRecord<byte[], byte[]>> recs) {
    Held h = new Held();
    h.records.addAll(recs);
    held.put(tp, h);
    drain(tp, h);
  }

  /**
   * Every turn, for each assigned partition: a followed shard is observed (the owner may have fallen
   * silent: a takeover); a held partition whose shard is owned here now releases its records to
   * {@code runAsOwner}, else it is drained as far as completions replicated.
   */
  public void tick(BiConsumer<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> runAsOwner) {
    for (TopicPartition tp : assigned.all()) {
      int shard = tp.partition();
      try {
        Held h = held.get(tp);
        if (ownership != null && !ownership.owns(shard)) {
          long heldFor = h == null || h.sinceNanos == 0 ? 0 : ctx.clock().nanoTime() - h.sinceNanos;
          Optional<TakeoverReport> report = ownership.observe(shard, Duration.ofNanos(heldFor));
          if (report.isPresent() && h != null) {
            // now the owner: the held records are processed under the new epoch
            release(tp, h, runAsOwner);
          }
          h = held.get(tp);
        }
        if (h != null) {
          if (ownership == null || ownership.owns(shard)) {
            release(tp, h, runAsOwner);
          } else {
            drain(tp, h);
          }
        }
      } catch (StoreException e) {
        log.debug("shard {} not ready: {}", shard, e.getMessage());
      }
    }
  }

  private void release(TopicPartition tp, Held h,
      BiConsumer<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> runAsOwner) {
    held.remove(tp);
    unwatch(tp);
    recount();
    ctx.consumer().resume(List.of(tp));
    runAsOwner.accept(tp, new ArrayList<>(h.records));
  }

  /** Acknowledges held records from the head while their ids are terminal; pauses on the first not. */
  private void drain(TopicPartition tp, Held h) {
    long now = ctx.clock().nanoTime();
    long next = -1;
    try {
      while (!h.records.isEmpty()) {
        ConsumerRecord<byte[], byte[]> r = h.records.peek();
        IncomingMessage m = RecordMessages.of(r);
        Optional<Envelope> env = completions.envelopeOf(m);
        // an unreadable copy is dead-lettered by the owner in its region; here only acknowledged
        if (env.isPresent() && !completions.terminal(m)) {
          // the head waits: its id is watched by the store listener, then looked at once more (a
          // completion applied between the look and the watch would otherwise go unnoticed until a
          // poll timeout)
          if (!watch(tp, env.get().id()) || !completions.terminal(m)) {
            break;
          }
        }
        h.records.poll();
        next = r.offset() + 1;
        acknowledged.increment();
        if (h.sinceNanos != 0) {
          holdTime.record(now - h.sinceNanos, TimeUnit.NANOSECONDS);
          h.sinceNanos = 0;
        }
      }
    } finally {
      recount();
    }
    if (next >= 0) {
      assigned.advance(tp.partition(), next);
      committer.dueNow(tp, next);
    }
    if (h.records.isEmpty()) {
      held.remove(tp);
      unwatch(tp);
      ctx.consumer().resume(List.of(tp));
      return;
    }
    if (h.sinceNanos == 0) {
      h.sinceNanos = now;
    }
    ctx.consumer().pause(List.of(tp));
    if (now - h.sinceNanos > maxHold.toNanos()) {
      resend(tp, h);
    }
  }

  /** After maxHold: the owner may never have received its copy; send ours to its topic, same id. */
  private void resend(TopicPartition tp, Held h) {
    ConsumerRecord<byte[], byte[]> r = h.records.peek();
    Optional<Envelope> env = completions.envelopeOf(RecordMessages.of(r));
    if (env.isEmpty() || !h.resent.add(env.get().id()) || ownership == null) {
      return;
    }
    RegionId owner = ownership.owner(tp.partition());
    if (owner.equals(ctx.region())) {
      // this region owns the shard but its policy forbids processing now (no witness lease): hold on
      h.resent.remove(env.get().id());
      return;
    }
    RegionalSink sink = resendSinks.get(owner);
    if (sink == null) {
      log.warn("no re-send sink for owner region {}; holding {} on", owner, env.get().id());
      return;
    }
    OutboundMessage.Builder mb = OutboundMessage.builder(r.topic(), r.partition()).key(r.key())
        .value(r.value()).envelope(env.get());
    for (Header hd : r.headers()) {
      if (!hd.key().startsWith("tandem-")) {
        mb.header(hd.key(), hd.value());
      }
    }
    resends.increment();
    log.info("Tandem follower {} re-sends {} (held over {}) to {}", ctx.region(), env.get().id(),
        maxHold, owner);
    sink.send(mb.build()).whenComplete((ack, e) -> {
      if (e != null) {
        log.warn("re-send of {} to {} failed; holding on", env.get().id(), owner, e);
      }
    });
  }

  /** {@code tp} given up: its held records go (they are not committed; the next holder reads them). */
  public void forget(TopicPartition tp) {
    held.remove(tp);
    unwatch(tp);
    recount();
  }

  /** The loop stopped: nothing is held any more (uncommitted; the next holder reads them again). */
  public void clear() {
    held.clear();
    headOf.clear();
    watch.clear();
    recount();
  }

  private void recount() {
    long n = 0;
    for (Held h : held.values()) {
      n += h.records.size();
    }
    count.set(n);
  }
}
