package dev.tandem.consumer.ownership;

import dev.tandem.core.RegionId;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.KafkaReplicationLog;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The operator's command line for shard ownership ({@code tandem ownership show|move|fence}). It
 * opens its own replica of the replicated store in {@code --dir} (RocksDB opens a directory once, so
 * not the directory of a running consumer), restores it from the changelogs, and acts as a member of
 * {@code --region}:
 *
 * <pre>
 * java -cp ... dev.tandem.consumer.ownership.OwnershipCli show  --region region-b \
 *     --regions region-a=host-a:9092,region-b=host-b:9092 --dir /var/lib/tandem-cli --shards 4
 * ... OwnershipCli move 2 --wait PT10S ...    # shard 2 to --region, waits for the old owner's ack
 * ... OwnershipCli fence 2 ...                # the same without waiting (old owner known down)
 * </pre>
 *
 * <p>Exit code 0 on success, 1 when a move's duplicate bound is unknown (the old owner did not
 * acknowledge), 2 on a usage error.
 */
public final class OwnershipCli {

  /** Option: this region (the region a move moves shards to). */
  public static final String REGION = "--region";
  /** Option: every region as {@code name=bootstrap,name=bootstrap}. */
  public static final String REGIONS = "--regions";
  /** Option: the CLI's own store directory. */
  public static final String DIR = "--dir";
  /** Option: the number of shards (partitions). */
  public static final String SHARDS = "--shards";
  /** Option: the changelog topic prefix (default {@code tandem}). */
  public static final String PREFIX = "--prefix";
  /** Option: how long a move waits for the old owner's acknowledgement (ISO-8601, default PT10S). */
  public static final String WAIT = "--wait";

  private static final String USAGE = "usage: tandem ownership show|move <shard>|fence <shard> "
      + REGION + " R " + REGIONS + " a=host:port,b=host:port " + DIR + " D " + SHARDS + " N ["
      + PREFIX + " P] [" + WAIT + " PT10S]";

  private OwnershipCli() {}

  public static void main(String[] args) {
    System.exit(run(args, System.out));
  }

  /** Runs one command, printing to {@code out}; returns the exit code. */
  public static int run(String[] args, PrintStream out) {
    List<String> positional = new ArrayList<>();
    Map<String, String> opts = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].startsWith("--")) {
        if (i + 1 >= args.length) {
          out.println("missing value of " + args[i] + "\n" + USAGE);
          return 2;
        }
        opts.put(args[i], args[++i]);
      } else {
        positional.add(args[i]);
      }
    }
    Map<RegionId, String> regions = new LinkedHashMap<>();
    RegionId self;
    Path dir;
    int shards;
    Duration wait;
    try {
      for (String r : required(opts, REGIONS).split(",")) {
        String[] kv = r.split("=", 2);
        if (kv.length != 2) {
          throw new IllegalArgumentException("bad region " + r + " (want name=bootstrap)");
        }
        regions.put(RegionId.of(kv[0].trim()), kv[1].trim());
      }
      self = RegionId.of(required(opts, REGION));
      dir = Path.of(required(opts, DIR));
      shards = Integer.parseInt(required(opts, SHARDS));
      wait = Duration.parse(opts.getOrDefault(WAIT, "PT10S"));
      if (positional.isEmpty() || !List.of("show", "move", "fence").contains(positional.get(0))
          || (!positional.get(0).equals("show") && positional.size() != 2)) {
        throw new IllegalArgumentException("unknown command " + positional);
      }
    } catch (RuntimeException e) {
      out.println(e.getMessage() + "\n" + USAGE);
      return 2;
    }
    IdempotencyStore store = IdempotencyStore.builder().region(self).instance("ownership-cli")
        .directory(dir.resolve("store")).build();
    try (store) {
      KafkaReplicationLog.Builder lb = KafkaReplicationLog.builder().store(store)
          .spoolDirectory(dir.resolve("spool")).shards(shards).materializeAllShards()
          .topicPrefix(opts.getOrDefault(PREFIX, "tandem"));
      regions.forEach(lb::region);
      try (KafkaReplicationLog log = lb.build()) {
        if (!log.awaitRestored(Duration.ofSeconds(60))) {
          out.println("the changelogs could not be restored within 60 s; nothing done");
          return 2;
        }
        ShardOwnership ownership = ShardOwnership.builder().region(self)
            .regions(List.copyOf(regions.keySet())).store(log.replicatedStore())
            .replicationLog(log).policy(OwnershipPolicy.manual()).build();
        String cmd = positional.get(0);
        if (cmd.equals("show")) {
          for (int s = 0; s < shards; s++) {
            ShardLease l = ownership.lease(s);
            out.printf("shard %d owner %s epoch %d position %d window %d unacked %d peerReachable %s%n",
                s, l.owner().name(), l.epoch(), l.position(), l.window(), l.unacked(),
                l.peerReachable());
          }
          return 0;
        }
        int shard = Integer.parseInt(positional.get(1));
        MoveReport m = ownership.move(shard, cmd.equals("fence") ? Duration.ZERO : wait);
        // the new lease must leave this process before it exits
        log.barrier(shard, self).get(wait.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        out.println((m.oldOwnerAcknowledged() ? "moved: " : "moved, bound UNKNOWN: ") + m.detail());
        out.println(m.takeover());
        return m.oldOwnerAcknowledged() ? 0 : 1;
      }
    } catch (IllegalStateException | IllegalArgumentException e) {
      out.println(e.getMessage());
      return 2;
    } catch (Exception e) {
      out.println("failed: " + e);
      return 2;
    }
  }

  private static String required(Map<String, String> opts, String name) {
    String v = opts.get(name);
    if (v == null) {
      throw new IllegalArgumentException("missing " + name);
    }
    return v;
  }
}
