package dev.tandem.consumer.ownership;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.KafkaReplicationLog;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;

/**
 * The operator's command line for shard ownership ({@code tandem ownership show|move|fence}). It
 * opens its own replica of the replicated store in {@code --dir} (RocksDB opens a directory once, so
 * not the directory of a running consumer), restores it from the changelogs, and acts as a member of
 * {@code --region}:
 *
 * <pre>
 * java -cp ... dev.tandem.consumer.ownership.OwnershipCli show  --region region-b \
 *     --regions region-a=host-a:9092,region-b=host-b:9092 --dir /var/lib/tandem-cli --shards 4
 * ... OwnershipCli show --config tandem-region.properties --dir /var/lib/tandem-cli   # same keys
 *                                                          # as the region's consumers
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
  /**
   * Option: a {@link TandemRegionConfig} properties file (the one the region's consumers use), in
   * place of {@code --regions}, {@code --shards} and {@code --prefix}; {@code --dir} is still this
   * replica's own state directory and {@code --region} may name another region to act as.
   */
  public static final String CONFIG = "--config";
  /** Option: how long a move waits for the old owner's acknowledgement (ISO-8601, default PT10S). */
  public static final String WAIT = "--wait";

  private static final String USAGE = "usage: tandem ownership show|move <shard>|fence <shard> "
      + "(" + CONFIG + " tandem.properties [" + REGION + " R] | " + REGION + " R " + REGIONS
      + " a=host:port,b=host:port " + SHARDS + " N [" + PREFIX + " P]) " + DIR + " D [" + WAIT
      + " PT10S]";

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
    Map<String, Object> keys = new LinkedHashMap<>();
    Duration wait;
    try {
      if (opts.containsKey(CONFIG)) {
        // the region's own key table: the same file as the consumers', except this replica's dir
        for (String o : List.of(REGIONS, SHARDS, PREFIX)) {
          if (opts.containsKey(o)) {
            throw new IllegalArgumentException(CONFIG + " and " + o + " both given: the file sets "
                + "the regions, shards and changelog prefix; remove " + o);
          }
        }
        TandemRegion.load(Path.of(opts.get(CONFIG))).forEach((k, v) -> keys.put((String) k, v));
        if (opts.containsKey(REGION)) {
          keys.put(TandemRegionConfig.REGION_CONFIG, opts.get(REGION));
        }
      } else {
        StringBuilder names = new StringBuilder();
        for (String r : required(opts, REGIONS).split(",")) {
          String[] kv = r.split("=", 2);
          if (kv.length != 2) {
            throw new IllegalArgumentException("bad region " + r + " (want name=bootstrap)");
          }
          names.append(names.length() == 0 ? "" : ",").append(kv[0].trim());
          keys.put(TandemRegionConfig.REGION_PREFIX + kv[0].trim() + ".bootstrap.servers",
              kv[1].trim());
        }
        keys.put(TandemRegionConfig.REGIONS_CONFIG, names.toString());
        keys.put(TandemRegionConfig.REGION_CONFIG, required(opts, REGION));
        keys.put(TandemRegionConfig.SHARDS_CONFIG, Integer.parseInt(required(opts, SHARDS)));
        keys.put(TandemRegionConfig.CHANGELOG_PREFIX_CONFIG, opts.getOrDefault(PREFIX, "tandem"));
      }
      // its own replica (RocksDB opens a directory once), acting as a MANUAL member of the region
      keys.put(TandemRegionConfig.STATE_DIR_CONFIG, required(opts, DIR));
      keys.put(TandemRegionConfig.INSTANCE_CONFIG, "ownership-cli");
      keys.put(TandemRegionConfig.OWNERSHIP_POLICY_CONFIG, "manual");
      keys.put(TandemRegionConfig.GUARANTEE_CONFIG, TandemRegionConfig.GUARANTEE_FULL);
      keys.put(TandemRegionConfig.STORE_SHARDS_CONFIG, "all");
      wait = Duration.parse(opts.getOrDefault(WAIT, "PT10S"));
      if (positional.isEmpty() || !List.of("show", "move", "fence").contains(positional.get(0))
          || (!positional.get(0).equals("show") && positional.size() != 2)) {
        throw new IllegalArgumentException("unknown command " + positional);
      }
    } catch (RuntimeException e) {
      out.println(e.getMessage() + "\n" + USAGE);
      return 2;
    }
    TandemRegion region;
    try {
      region = TandemRegion.create(keys);
    } catch (ConfigException e) {
      out.println(e.getMessage() + "\n" + USAGE);
      return 2;
    }
    try (region) {
      KafkaReplicationLog log = region.replicationLog();
      RegionId self = region.region();
      int shards = region.shardCount();
      if (!log.awaitRestored(Duration.ofSeconds(60))) {
        out.println("the changelogs could not be restored within 60 s; nothing done");
        return 2;
      }
      ShardOwnership ownership = region.ownership();
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
