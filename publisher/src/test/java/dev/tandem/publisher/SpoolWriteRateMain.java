package dev.tandem.publisher;

import dev.tandem.core.RegionId;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A quick measurement (not a test, not a benchmark): fsynced spool writes per second on this machine,
 * RocksDB WriteBatch+sync (the {@link DurableSpool}) versus an append-only file with {@code force},
 * one writer waiting for each write, and many writers sharing group commits. Args: directory.
 */
public final class SpoolWriteRateMain {

  private SpoolWriteRateMain() {}

  public static void main(String[] args) throws Exception {
    Path dir = Files.createTempDirectory(args.length > 0 ? Path.of(args[0]) : Path.of("/tmp"), "spool-rate");
    byte[] record = new byte[300];
    RegionId region = TestRegions.B;
    for (int round = 0; round < 2; round++) {
      System.out.println("round " + round);
      try (DurableSpool spool = DurableSpool.open(dir.resolve("rocks-" + round), 10_000_000, 1L << 34)) {
        AtomicLong seq = new AtomicLong();
        rate("rocksdb sync, 1 writer waits each", 2_000, 1, () -> {
          spool.reserve(region, DurableSpool.recordSize(region, record.length));
          spool.append(region, seq.getAndIncrement(), record).join();
        });
        rate("rocksdb sync, 32 writers (group commit)", 20_000, 32, () -> {
          spool.reserve(region, DurableSpool.recordSize(region, record.length));
          spool.append(region, seq.getAndIncrement(), record).join();
        });
        List<CompletableFuture<Void>> all = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < 50_000; i++) {
          spool.reserve(region, DurableSpool.recordSize(region, record.length));
          all.add(spool.append(region, seq.getAndIncrement(), record));
        }
        CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).join();
        report("rocksdb sync, 50000 async appends (max group 1024)", 50_000, System.nanoTime() - t0);
      }
      try (FileChannel log = FileChannel.open(dir.resolve("log-" + round),
          StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
        rate("append log + force, 1 writer waits each", 2_000, 1, () -> {
          synchronized (log) {
            log.write(ByteBuffer.wrap(record));
            log.force(false);
          }
        });
        // group commit by hand: 32 records per force, the best case for a log
        long t0 = System.nanoTime();
        for (int i = 0; i < 20_000; i += 32) {
          for (int j = 0; j < 32; j++) {
            log.write(ByteBuffer.wrap(record));
          }
          log.force(false);
        }
        report("append log + force every 32 records", 20_000, System.nanoTime() - t0);
      }
    }
  }

  interface Op {
    void run() throws Exception;
  }

  private static void rate(String name, int total, int threads, Op op) throws Exception {
    AtomicLong left = new AtomicLong(total);
    CountDownLatch done = new CountDownLatch(threads);
    long t0 = System.nanoTime();
    for (int t = 0; t < threads; t++) {
      new Thread(() -> {
        try {
          while (left.decrementAndGet() >= 0) {
            op.run();
          }
        } catch (Exception e) {
          e.printStackTrace();
        } finally {
          done.countDown();
        }
      }).start();
    }
    done.await();
    report(name, total, System.nanoTime() - t0);
  }

  private static void report(String name, int n, long nanos) {
    System.out.printf("%-55s %9.0f records/s (%d in %d ms)%n", name, n / (nanos / 1e9), n, nanos / 1_000_000);
  }
}
