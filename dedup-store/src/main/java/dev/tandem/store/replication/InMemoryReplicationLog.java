package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import dev.tandem.core.TandemClock;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.ShardLease;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import dev.tandem.store.spi.ReplicaStore;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;

/**
 * (Over 500 lines on purpose: one small simulation a test author reads as a whole; see the last
 * paragraph.) A {@link ReplicationLog} held in memory, <b>for tests and simulations</b> (as Kafka ships {@code
 * MockProducer} and {@code MockConsumer} in its main jar): several regions' replicas join one {@link
 * Network}, and the test decides when changes travel, so interleavings a real cluster reaches only by
 * chance (or never) are scripted step by step, with no thread and no sleep. Never use it in
 * production: nothing is durable.
 *
 * <p>The model is the Kafka one ({@link KafkaReplicationLog}, {@code docs/design.md#replication}):
 * each region has one changelog; every LOCAL write of a replica's store (a record or a lease) is
 * appended to every region's changelog, the own one at once and a peer's through a link; a replica
 * reads only its own region's changelog and merges what it reads into its store.
 *
 * <ul>
 *   <li><b>Acknowledged</b> = appended to that region's changelog. {@link #barrier} completes when
 *       every change of the shard written so far is; {@link #unackedByPeers} counts the shard's
 *       changes a peer's changelog does not hold yet (the window W counts these).
 *   <li><b>Applied</b> = read by the region's replica: only on {@link Network#deliver()} (or {@link
 *       Network#deliver(RegionId)}), for the shards {@link #assign assigned} to it, or by a {@link
 *       #catchUp}. So a change can be acknowledged by a peer and not yet applied there (replication
 *       lag), exactly as with Kafka.
 *   <li><b>Links</b>: {@link Network#hold(RegionId)} keeps a region's copies to its peers queued (a
 *       slow link: still reachable, W fills); {@link Network#partition(RegionId)} cuts a region off
 *       from every other (copies spooled both ways, {@link #peerReachable()} false, catch-ups across
 *       the cut fail); {@link Network#down(RegionId)} takes a region's changelog broker away (nothing
 *       is appended to or read from it; its own barriers and catch-ups fail, its peers see it
 *       unreachable). Each has its inverse; queued copies are appended in write order when the link
 *       comes back, as the publisher's spool replays them.
 *   <li><b>Heartbeats</b>: {@link #heartbeat()} (or {@link Network#heartbeat()}) appends one
 *       replica heartbeat to every changelog it reaches, when every {@link #addLivenessCheck} check
 *       passes (none registered: always); {@link #lag} reports them on the network's clock as the
 *       Kafka log does.
 *   <li>Hand-off markers are not modelled ({@link #handOff} is empty): a revoke applies at once.
 * </ul>
 *
 * <p>Thread-safe: every state change happens under the network's lock, and stores are written
 * outside it (a store calls its listeners under its own locks), so a poll loop on another thread may
 * write while the test thread delivers. Merges are lattice joins, so delivery order does not matter.
 *
 * <p>Why one file of about 600 lines: it is one small simulation (changelogs, links, barriers, lag)
 * that a test author reads as a whole; a sixth of it is this documentation, and split into classes
 * it would only add package-private plumbing between them.
 */
public final class InMemoryReplicationLog implements ReplicationLog {

  /** A new network of in-memory changelogs on {@code clock} (lag and heartbeat ages use it). */
  public static Network network(TandemClock clock) {
    return new Network(clock);
  }

  /** One change or heartbeat in a changelog. */
  private record Entry(InMemoryReplicationLog writer, long seq, int shard, IdRecord record,
      ShardLease lease, long sentAtMillis) {
    boolean heartbeat() {
      return record == null && lease == null;
    }
  }

  /** A barrier waiting for a region to acknowledge the writer's changes of a shard up to seq. */
  private record Waiter(int shard, RegionId region, long seq, CompletableFuture<Void> future) {}

  /** What a replica knows of one origin's heartbeats. */
  private static final class Heard {
    long lagMillis;
    long appliedAtNanos;
    long count;
  }

  /**
   * Several regions' in-memory changelogs and the links between them. Every method may be called
   * from any thread; nothing moves unless a method is called.
   */
  public static final class Network {
    private final TandemClock clock;
    private final Map<RegionId, List<Entry>> changelogs = new LinkedHashMap<>();
    private final List<InMemoryReplicationLog> replicas = new CopyOnWriteArrayList<>();
    private final Set<RegionId> held = new HashSet<>();
    private final Set<RegionId> partitioned = new HashSet<>();
    private final Set<RegionId> down = new HashSet<>();

    private Network(TandemClock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
    }

    /**
     * A replica of {@code store} (its region: the store owner's) joins the network: from now on its
     * LOCAL writes are appended to the changelogs. Several replicas of one region share its changelog
     * (instances of one region). Assign shards to it before it applies anything.
     */
    public InMemoryReplicationLog join(IdempotencyStore store) {
      Objects.requireNonNull(store, "store");
      InMemoryReplicationLog r = new InMemoryReplicationLog(this, store.owner().region(), store);
      synchronized (this) {
        changelogs.computeIfAbsent(r.region, k -> new ArrayList<>());
        replicas.add(r);
      }
      store.addListener(r.listener);
      return r;
    }

    /** Every region's replicas read their own changelog to its end (a down region's do not). */
    public void deliver() {
      for (InMemoryReplicationLog r : replicas) {
        r.readOwn(Set.of());
      }
    }

    /** {@code region}'s replicas read their own changelog to its end. */
    public void deliver(RegionId region) {
      for (InMemoryReplicationLog r : replicas) {
        if (r.region.equals(region)) {
          r.readOwn(Set.of());
        }
      }
    }

    /** Every replica writes one heartbeat (those whose liveness checks pass). */
    public void heartbeat() {
      for (InMemoryReplicationLog r : replicas) {
        r.heartbeat();
      }
    }

    /** Keeps {@code region}'s copies to its peers queued: a slow link, still reachable. */
    public void hold(RegionId region) {
      synchronized (this) {
        held.add(region);
      }
    }

    /** Ships {@code region}'s held copies (in write order) and stops holding them. */
    public void release(RegionId region) {
      synchronized (this) {
        held.remove(region);
      }
      flush();
    }

    /** Cuts {@code region} off from every other region (a partition; both sides keep running). */
    public void partition(RegionId region) {
      synchronized (this) {
        partitioned.add(region);
      }
    }

    /** Reconnects {@code region}: the spooled copies both ways are appended. */
    public void heal(RegionId region) {
      synchronized (this) {
        partitioned.remove(region);
      }
      flush();
    }

    /** {@code region}'s changelog broker goes down: nothing is appended to or read from it. */
    public void down(RegionId region) {
      synchronized (this) {
        down.add(region);
      }
    }

    /** {@code region}'s changelog broker is back: the copies queued for it are appended. */
    public void up(RegionId region) {
      synchronized (this) {
        down.remove(region);
      }
      flush();
    }

    /** Entries (changes and heartbeats) in {@code region}'s changelog. */
    public synchronized int size(RegionId region) {
      List<Entry> log = changelogs.get(region);
      return log == null ? 0 : log.size();
    }

    /** Whether a copy written in {@code from} can be appended to {@code to}'s changelog now. */
    private boolean ships(RegionId from, RegionId to) {
      if (down.contains(to)) {
        return false;
      }
      if (from.equals(to)) {
        return true;
      }
      return !held.contains(from) && !cut(from, to);
    }

    /** Whether {@code a} and {@code b} cannot reach each other (a partition or a broker down). */
    private boolean cut(RegionId a, RegionId b) {
      return !a.equals(b) && (partitioned.contains(a) || partitioned.contains(b)
          || down.contains(a) || down.contains(b));
    }

    /** Appends every queued copy that may ship now, then completes the barriers it satisfied. */
    private void flush() {
      List<CompletableFuture<Void>> done = new ArrayList<>();
      synchronized (this) {
        for (InMemoryReplicationLog r : replicas) {
          r.shipQueued(done);
        }
      }
      done.forEach(f -> f.complete(null));
    }

    private synchronized Set<RegionId> regions() {
      return new TreeSet<>(changelogs.keySet());
    }
  }

  private final Network net;
  private final RegionId region;
  /** The replica view: replication merges remote changes and drops shards through the SPI. */
  private final ReplicaStore store;
  private final StoreListener listener = new Listener();
  // all below guarded by net
  private final Map<RegionId, Deque<Entry>> outbox = new HashMap<>();
  private final List<Waiter> waiters = new ArrayList<>();
  private final Set<Integer> assigned = new TreeSet<>();
  private final Map<RegionId, Heard> heard = new HashMap<>();
  private final Map<RegionId, Integer> catchUps = new HashMap<>();
  private int readPosition;
  private long seq;
  private boolean closed;
  private final List<BooleanSupplier> livenessChecks = new CopyOnWriteArrayList<>();

  private InMemoryReplicationLog(Network net, RegionId region, IdempotencyStore store) {
    this.net = net;
    this.region = region;
    this.store = ReplicaStore.of(store);
  }

  /** This replica's region. */
  public RegionId region() {
    return region;
  }

  /** The network this replica joined. */
  public Network network() {
    return net;
  }

  private final class Listener implements StoreListener {
    @Override
    public void onRecord(IdRecord record, WriteOrigin origin) {
      if (origin == WriteOrigin.LOCAL) {
        write(record.shard(), record, null);
      }
    }

    @Override
    public void onLease(ShardLease lease, WriteOrigin origin) {
      if (origin == WriteOrigin.LOCAL) {
        write(lease.shard(), null, lease);
      }
    }
  }

  /** Appends a local change to every changelog it reaches now, and queues the other copies. */
  private void write(int shard, IdRecord record, ShardLease lease) {
    synchronized (net) {
      if (closed) {
        return; // a write while closed stays with the store, as the Kafka log leaves it unshipped
      }
      Entry e = new Entry(this, ++seq, shard, record, lease, net.clock.wallMillis());
      for (RegionId to : net.regions()) {
        if (net.ships(region, to) && outbox(to).isEmpty()) {
          net.changelogs.get(to).add(e);
        } else {
          outbox(to).add(e); // behind the copies queued before it: a spool replays in order
        }
      }
    }
  }

  private Deque<Entry> outbox(RegionId to) {
    return outbox.computeIfAbsent(to, k -> new ArrayDeque<>());
  }

  /** Under the network's lock: appends the queued copies that may ship, collects met barriers. */
  private void shipQueued(List<CompletableFuture<Void>> done) {
    for (Map.Entry<RegionId, Deque<Entry>> q : outbox.entrySet()) {
      if (net.ships(region, q.getKey())) {
        net.changelogs.get(q.getKey()).addAll(q.getValue());
        q.getValue().clear();
      }
    }
    for (Iterator<Waiter> it = waiters.iterator(); it.hasNext(); ) {
      Waiter w = it.next();
      if (acked(w.shard(), w.region(), w.seq())) {
        done.add(w.future());
        it.remove();
      }
    }
  }

  /** Whether {@code region}'s changelog holds every change of {@code shard} up to {@code upTo}. */
  private boolean acked(int shard, RegionId to, long upTo) {
    Deque<Entry> q = outbox.get(to);
    if (q == null) {
      return true;
    }
    for (Entry e : q) {
      if (e.seq() <= upTo && e.shard() == shard && !e.heartbeat()) {
        return false;
      }
    }
    return true;
  }

  /**
   * Reads the own region's changelog to its end and applies it to the store: the assigned shards and
   * {@code alsoShards}. Nothing if the own broker is down. The store is written outside the lock.
   */
  private int readOwn(Set<Integer> alsoShards) {
    List<Entry> toApply = new ArrayList<>();
    synchronized (net) {
      if (closed || net.down.contains(region)) {
        return 0;
      }
      List<Entry> log = net.changelogs.get(region);
      for (int i = readPosition; i < log.size(); i++) {
        toApply.add(log.get(i));
      }
      readPosition = log.size();
    }
    return apply(toApply, alsoShards);
  }

  private int apply(List<Entry> entries, Set<Integer> alsoShards) {
    int n = 0;
    Set<Integer> shards;
    synchronized (net) {
      shards = new HashSet<>(assigned);
    }
    shards.addAll(alsoShards);
    for (Entry e : entries) {
      if (e.heartbeat()) {
        heard(e);
        n++;
      } else if (shards.contains(e.shard())) {
        n++;
        if (e.writer() == this) {
          continue; // its own write: already in the store
        }
        if (e.record() != null) {
          store.applyRemote(e.record());
        } else {
          store.applyRemoteLease(e.lease());
        }
      }
    }
    return n;
  }

  private void heard(Entry hb) {
    synchronized (net) {
      Heard h = heard.computeIfAbsent(hb.writer().region, k -> new Heard());
      h.lagMillis = Math.max(0, net.clock.wallMillis() - hb.sentAtMillis());
      h.appliedAtNanos = net.clock.nanoTime();
      h.count++;
    }
  }

  /**
   * Appends one replica heartbeat to every changelog it reaches (queued for the others), if every
   * liveness check passes; as the Kafka log's heartbeat timer does every 500 ms.
   *
   * @return whether a heartbeat was written
   */
  public boolean heartbeat() {
    for (BooleanSupplier c : livenessChecks) {
      if (!c.getAsBoolean()) {
        return false;
      }
    }
    synchronized (net) {
      if (closed) {
        return false;
      }
      Entry e = new Entry(this, ++seq, -1, null, null, net.clock.wallMillis());
      for (RegionId to : net.regions()) {
        if (net.ships(region, to) && outbox(to).isEmpty()) {
          net.changelogs.get(to).add(e);
        } else {
          outbox(to).add(e);
        }
      }
    }
    return true;
  }

  @Override
  public void assign(Set<Integer> shards) {
    synchronized (net) {
      checkOpen();
      assigned.addAll(shards);
    }
    restore(shards);
  }

  /**
   * Restores {@code shards}: applies every change of theirs in the own changelog up to its current
   * end (those past this replica's read position are applied again by the next delivery: a join).
   */
  private void restore(Set<Integer> shards) {
    List<Entry> all;
    synchronized (net) {
      if (net.down.contains(region)) {
        return; // read later, by the next deliver
      }
      all = new ArrayList<>(net.changelogs.get(region));
    }
    all.removeIf(Entry::heartbeat);
    apply(all, shards);
  }

  /**
   * Drops {@code shards} (their records and leases leave the store). Throws {@link
   * IllegalStateException} if a change of one of them is not in the own changelog yet (the own broker
   * is down), as the Kafka log does when its revoke times out; the shards stay assigned then.
   */
  @Override
  public void revoke(Set<Integer> shards) {
    synchronized (net) {
      checkOpen();
      for (int s : shards) {
        if (assigned.contains(s) && !acked(s, region, seq)) {
          throw new IllegalStateException("cannot revoke shard " + s + ": its changelog writes were"
              + " not acknowledged by " + region + "; the shard stays assigned");
        }
      }
      assigned.removeAll(shards);
    }
    for (int s : shards) {
      store.dropShard(s);
    }
  }

  @Override
  public boolean awaitRestored(Duration timeout) {
    return true;
  }

  @Override
  public boolean isRestored(int shard) {
    synchronized (net) {
      return assigned.contains(shard);
    }
  }

  @Override
  public CompletableFuture<Void> barrier(int shard, RegionId to) {
    synchronized (net) {
      if (closed) {
        return CompletableFuture.failedFuture(new IllegalStateException("replication log closed"));
      }
      if (acked(shard, to, seq)) {
        return CompletableFuture.completedFuture(null);
      }
      CompletableFuture<Void> f = new CompletableFuture<>();
      waiters.add(new Waiter(shard, to, seq, f));
      return f;
    }
  }

  @Override
  public long unackedByPeers(int shard) {
    synchronized (net) {
      long max = 0;
      for (Map.Entry<RegionId, Deque<Entry>> q : outbox.entrySet()) {
        if (!q.getKey().equals(region)) {
          max = Math.max(max, q.getValue().stream()
              .filter(e -> e.shard() == shard && !e.heartbeat()).count());
        }
      }
      return max;
    }
  }

  /** False while a peer region is cut off from this one (partition, or either broker down). */
  @Override
  public boolean peerReachable() {
    synchronized (net) {
      for (RegionId r : net.regions()) {
        if (net.cut(region, r)) {
          return false;
        }
      }
      return true;
    }
  }

  /**
   * The own region: reads its changelog to the end (fails while its broker is down). A peer: reads
   * that region's changelog for {@code shards} and applies it (fails while it is cut off). The timeout
   * is not waited for: an unreachable region fails at once.
   */
  @Override
  public CatchUpResult catchUp(RegionId from, Set<Integer> shards, Duration timeout) {
    synchronized (net) {
      checkOpen();
      catchUps.merge(from, 1, Integer::sum);
    }
    if (from.equals(region)) {
      boolean isDown;
      synchronized (net) {
        isDown = net.down.contains(region);
      }
      if (isDown) {
        return CatchUpResult.notRead(from, shards, 0, Duration.ZERO,
            "unreachable: " + region + "'s changelog broker is down");
      }
      return CatchUpResult.ok(from, shards, readOwn(shards), Duration.ZERO);
    }
    List<Entry> theirs;
    synchronized (net) {
      if (net.cut(region, from) || !net.changelogs.containsKey(from)) {
        return CatchUpResult.notRead(from, shards, 0, Duration.ZERO,
            "unreachable: " + from + " cannot be reached from " + region);
      }
      theirs = new ArrayList<>(net.changelogs.get(from));
    }
    theirs.removeIf(e -> e.heartbeat() || !shards.contains(e.shard()));
    return CatchUpResult.ok(from, shards, apply(theirs, shards), Duration.ZERO);
  }

  /** How many catch-ups of {@code from}'s changelog this replica was asked for (answered or not). */
  public int catchUps(RegionId from) {
    synchronized (net) {
      return catchUps.getOrDefault(from, 0);
    }
  }

  @Override
  public void addLivenessCheck(BooleanSupplier alive) {
    livenessChecks.add(Objects.requireNonNull(alive, "alive"));
  }

  @Override
  public ReplicationLag lag(RegionId origin) {
    synchronized (net) {
      List<Entry> own = net.changelogs.get(region);
      long behind = own == null ? 0 : own.size() - readPosition;
      Heard h = heard.get(origin);
      if (h == null) {
        return new ReplicationLag(origin, null, behind, null, 0);
      }
      return new ReplicationLag(origin, Duration.ofMillis(h.lagMillis), behind,
          Duration.ofNanos(net.clock.nanoTime() - h.appliedAtNanos), h.count);
    }
  }

  @Override
  public Set<Integer> shards() {
    synchronized (net) {
      return Collections.unmodifiableSet(new TreeSet<>(assigned));
    }
  }

  /**
   * Stops reading and writing; barriers still waiting fail. Copies still queued stay queued (they
   * are shipped when their link comes back, as a publisher's spool replays after a restart).
   */
  @Override
  public void close() {
    List<CompletableFuture<Void>> failed = new ArrayList<>();
    synchronized (net) {
      closed = true;
      waiters.forEach(w -> failed.add(w.future()));
      waiters.clear();
    }
    failed.forEach(f -> f.completeExceptionally(new IllegalStateException("replication log closed")));
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("replication log closed");
    }
  }
}
