package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.rocksdb.Options;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The durable spool: copies a region has not acknowledged, in RocksDB, keyed {@code region \0
 * sequence} (big-endian), so one region's copies iterate in publish order.
 *
 * <p>Appends are group-committed: one writer thread takes every queued append, writes them in one
 * {@link WriteBatch} with {@code sync=true} (fsync of the WAL), and only then completes their futures.
 * A copy therefore counts as "spooled" only once it would survive a power cut. Deletes after replay
 * are not synced: after a crash a replayed copy may be replayed again (same id, consumers skip it).
 *
 * <p>Bounds ({@code maxRecords}, {@code maxBytes}, all regions together) are enforced by {@link
 * #reserve} before a write, so a full spool fails the copy up front, never after the caller was told
 * it is safe. Counters count reserved records, so a region's depth is non-zero from the moment a copy
 * is routed to the spool until its replay was deleted.
 */
final class DurableSpool implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(DurableSpool.class);
  private static final int KEY_SUFFIX = 1 + Long.BYTES;
  private static final int MAX_GROUP = 1024;

  static {
    RocksDB.loadLibrary();
  }

  /** One record read back from the spool. */
  record Entry(long seq, byte[] bytes) {}

  private record Append(byte[] key, byte[] value, CompletableFuture<Void> done) {}

  private final Path directory;
  private final Options options;
  private final RocksDB db;
  private final WriteOptions syncWrites;
  private final WriteOptions plainWrites;
  private final long maxRecords;
  private final long maxBytes;
  private final AtomicLong totalRecords = new AtomicLong();
  private final AtomicLong totalBytes = new AtomicLong();
  private final Map<String, AtomicLong> regionRecords = new ConcurrentHashMap<>();
  private final Map<String, AtomicLong> regionBytes = new ConcurrentHashMap<>();
  private final BlockingQueue<Append> queue = new LinkedBlockingQueue<>();
  private final Thread writer;
  private final long nextSequence;
  private volatile boolean closed;

  private DurableSpool(Path directory, long maxRecords, long maxBytes) throws RocksDBException {
    this.directory = directory;
    this.maxRecords = maxRecords;
    this.maxBytes = maxBytes;
    this.options = new Options().setCreateIfMissing(true);
    this.db = RocksDB.open(options, directory.toString());
    this.syncWrites = new WriteOptions().setSync(true);
    this.plainWrites = new WriteOptions();
    this.nextSequence = recover();
    this.writer = new Thread(this::writeLoop, "tandem-spool-writer");
    writer.setDaemon(true);
    writer.start();
  }

  /** Opens or recovers the spool in {@code directory}. */
  static DurableSpool open(Path directory, long maxRecords, long maxBytes) {
    try {
      Files.createDirectories(directory);
      return new DurableSpool(directory, maxRecords, maxBytes);
    } catch (RocksDBException e) {
      throw new IllegalStateException(
          "cannot open the spool in " + directory + " (is another publisher using it?): "
              + e.getMessage(), e);
    } catch (java.io.IOException e) {
      throw new IllegalStateException("cannot create the spool directory " + directory, e);
    }
  }

  /** Counts what an earlier publisher left; returns the first unused sequence number. */
  private long recover() {
    long maxSeq = -1;
    try (RocksIterator it = db.newIterator()) {
      for (it.seekToFirst(); it.isValid(); it.next()) {
        byte[] key = it.key();
        String region = regionOf(key);
        long seq = seqOf(key);
        maxSeq = Math.max(maxSeq, seq);
        long size = key.length + it.value().length;
        counter(regionRecords, region).incrementAndGet();
        counter(regionBytes, region).addAndGet(size);
        totalRecords.incrementAndGet();
        totalBytes.addAndGet(size);
      }
    }
    if (totalRecords.get() > 0) {
      LOG.info("spool {} holds {} copies from an earlier run: {}", directory, totalRecords, regionRecords);
    }
    return maxSeq + 1;
  }

  /** The first sequence number not used by a recovered record. */
  long nextSequence() {
    return nextSequence;
  }

  /** Regions with recovered (or current) records. */
  List<String> regionsWithRecords() {
    List<String> out = new ArrayList<>();
    regionRecords.forEach((r, n) -> {
      if (n.get() > 0) {
        out.add(r);
      }
    });
    return out;
  }

  /**
   * Reserves room for one record of {@code size} bytes for {@code region}.
   *
   * @throws SpoolFullException when the spool is at a bound
   */
  void reserve(RegionId region, int size) {
    long records = totalRecords.incrementAndGet();
    long bytes = totalBytes.addAndGet(size);
    if (records > maxRecords || bytes > maxBytes) {
      totalRecords.decrementAndGet();
      totalBytes.addAndGet(-size);
      throw new SpoolFullException(
          region,
          "the spool is full (" + (records - 1) + " of " + maxRecords + " records, " + (bytes - size)
              + " + " + size + " of " + maxBytes + " bytes): the copy for region " + region
              + " cannot be kept for replay, so it is not sent");
    }
    counter(regionRecords, region.name()).incrementAndGet();
    counter(regionBytes, region.name()).addAndGet(size);
  }

  /** Returns a reservation that was not written. */
  void release(RegionId region, int size) {
    totalRecords.decrementAndGet();
    totalBytes.addAndGet(-size);
    counter(regionRecords, region.name()).decrementAndGet();
    counter(regionBytes, region.name()).addAndGet(-size);
  }

  /** Size a record of {@code valueLength} bytes takes against the bound. */
  static int recordSize(RegionId region, int valueLength) {
    return region.name().length() + KEY_SUFFIX + valueLength;
  }

  /**
   * Appends (after {@link #reserve}); the future completes once the record is fsynced, or
   * exceptionally if the write failed (the reservation is then released by the caller).
   */
  CompletableFuture<Void> append(RegionId region, long seq, byte[] value) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    if (closed) {
      done.completeExceptionally(new IllegalStateException("the spool is closed"));
      return done;
    }
    queue.add(new Append(key(region.name(), seq), value, done));
    return done;
  }

  private void writeLoop() {
    List<Append> group = new ArrayList<>(MAX_GROUP);
    while (!closed || !queue.isEmpty()) {
      try {
        Append first = queue.poll(100, TimeUnit.MILLISECONDS);
        if (first == null) {
          continue;
        }
        group.add(first);
        queue.drainTo(group, MAX_GROUP - 1);
        try (WriteBatch batch = new WriteBatch()) {
          for (Append a : group) {
            batch.put(a.key, a.value);
          }
          db.write(syncWrites, batch);
          group.forEach(a -> a.done.complete(null));
        } catch (RocksDBException | RuntimeException | Error e) {
          // Error too (OutOfMemoryError, a LinkageError from the RocksDB JNI): escaping, it would end
          // this thread with the group's futures never completed (their copies in flight for ever,
          // every flush and close behind them waiting) and every later append never written
          LOG.error("spool write of {} copies failed", group.size(), e);
          group.forEach(a -> a.done.completeExceptionally(e));
        }
        group.clear();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    for (Append a; (a = queue.poll()) != null; ) {
      a.done.completeExceptionally(new IllegalStateException("the spool closed before this write"));
    }
  }

  /** Up to {@code max} records of {@code region} with sequence below {@code seqLimit}, in order. */
  List<Entry> read(RegionId region, long seqLimit, int max) {
    byte[] prefix = prefix(region.name());
    List<Entry> out = new ArrayList<>();
    try (ReadOptions ro = new ReadOptions(); RocksIterator it = db.newIterator(ro)) {
      for (it.seek(prefix); it.isValid() && out.size() < max; it.next()) {
        byte[] key = it.key();
        if (key.length != prefix.length + Long.BYTES
            || !Arrays.equals(key, 0, prefix.length, prefix, 0, prefix.length)) {
          break;
        }
        long seq = seqOf(key);
        if (seq >= seqLimit) {
          break;
        }
        out.add(new Entry(seq, it.value()));
      }
    }
    return out;
  }

  /** Deletes replayed records (not synced: a crash may replay them again). */
  void delete(RegionId region, List<Entry> entries) {
    if (entries.isEmpty()) {
      return;
    }
    long bytes = 0;
    try (WriteBatch batch = new WriteBatch()) {
      for (Entry e : entries) {
        batch.delete(key(region.name(), e.seq()));
        bytes += recordSize(region, e.bytes().length);
      }
      db.write(plainWrites, batch);
    } catch (RocksDBException e) {
      throw new IllegalStateException("cannot delete replayed copies from the spool", e);
    }
    totalRecords.addAndGet(-entries.size());
    totalBytes.addAndGet(-bytes);
    counter(regionRecords, region.name()).addAndGet(-entries.size());
    counter(regionBytes, region.name()).addAndGet(-bytes);
  }

  /** Records held (or reserved) for {@code region}. */
  long depth(RegionId region) {
    return counter(regionRecords, region.name()).get();
  }

  /** Bytes held (or reserved) for {@code region}. */
  long bytes(RegionId region) {
    return counter(regionBytes, region.name()).get();
  }

  /** Records held, all regions. */
  long totalRecords() {
    return totalRecords.get();
  }

  @Override
  public void close() {
    closed = true;
    try {
      writer.join(TimeUnit.SECONDS.toMillis(30));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    db.close();
    syncWrites.close();
    plainWrites.close();
    options.close();
  }

  private static AtomicLong counter(Map<String, AtomicLong> m, String region) {
    return m.computeIfAbsent(region, r -> new AtomicLong());
  }

  private static byte[] prefix(String region) {
    byte[] name = region.getBytes(StandardCharsets.US_ASCII);
    byte[] p = Arrays.copyOf(name, name.length + 1);
    p[name.length] = 0;
    return p;
  }

  private static byte[] key(String region, long seq) {
    byte[] p = prefix(region);
    return ByteBuffer.allocate(p.length + Long.BYTES).put(p).putLong(seq).array();
  }

  private static String regionOf(byte[] key) {
    return new String(key, 0, key.length - KEY_SUFFIX, StandardCharsets.US_ASCII);
  }

  private static long seqOf(byte[] key) {
    return ByteBuffer.wrap(key, key.length - Long.BYTES, Long.BYTES).getLong();
  }
}
