package dev.tandem.cli;

import dev.tandem.cli.TandemCli.CliException;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.ownership.MoveReport;
import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tandem move --shard N [--to R]}: writes epoch + 1 with {@code R} as the owner through the
 * changelogs and waits for the old owner region's changelog to acknowledge it, so the duplicate
 * bound is known (exit 0); unacknowledged, the bound is unknown (exit 1). Unlike {@code evacuate}
 * it does not drain the old owner first: use it when the old owner cannot hand over.
 */
@Command(name = "move", mixinStandardHelpOptions = true, description = "Move one shard to a region (epoch + 1), waiting for the old "
    + "owner's acknowledgement; prints the duplicate bound.")
class MoveCommand extends BaseCommand {

  @Option(names = "--shard", required = true, paramLabel = "N", description = "The shard.")
  int shard;

  @Option(names = "--to", paramLabel = "REGION",
      description = "The new owner (default: the other region).")
  String to;

  @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "10s",
      converter = DurationConverter.class,
      description = "How long to wait for the old owner's acknowledgement (default ${DEFAULT-VALUE}).")
  Duration timeout;

  /** How long the acknowledgement is waited for (fence: not at all). */
  Duration ackWait() {
    return timeout;
  }

  private static boolean usable(Session.Probe p) {
    return p != null && p.reachable() && p.changelog();
  }

  @Override
  public Integer call() {
    try (Session s = session()) {
      if (shard < 0 || shard >= s.config.getInt("tandem.shards")) {
        throw usage("--shard " + shard + ": the shards are 0.." + (s.config.getInt("tandem.shards") - 1));
      }
      if (to != null && !s.regions().contains(RegionId.of(to))) {
        throw usage("--to " + to + ": not one of tandem.regions " + s.regions());
      }
      Map<RegionId, Session.Probe> probes = s.probeAll();
      RegionId readFrom = s.readFrom(probes);
      RegionId target = to != null ? RegionId.of(to) : null;
      TandemRegion first = s.view(target != null && usable(probes.get(target)) ? target : readFrom,
          Duration.ofSeconds(60));
      if (target == null) {
        // the current owner as the changelog shows it; the new owner is the other region
        ShardLease l = first.ownership().lease(shard);
        List<RegionId> others = s.regions().stream().filter(r -> !r.equals(l.owner())).toList();
        if (others.size() != 1) {
          throw usage("--to is required: shard " + shard + " is owned by " + l.owner()
              + " and there are " + others.size() + " other regions");
        }
        target = others.get(0);
      }
      Session.Probe p = probes.get(target);
      if (!usable(p)) {
        throw new CliException(TandemCli.UNREACHABLE,
            "the new owner " + target + " must be reachable with its changelog: " + p.state());
      }
      // the move is written as a member of the new owner region, from its changelog's view
      TandemRegion view = first.region().equals(target) ? first
          : s.view(target, Duration.ofSeconds(60));
      if (view.ownership().lease(shard).owner().equals(target)) {
        throw new CliException(TandemCli.USAGE, "shard " + shard + " is already owned by " + target);
      }
      MoveReport m = view.ownership().move(shard, ackWait());
      try {
        // the new lease must be in the new owner's changelog before this process exits
        view.replicationLog().barrier(shard, target).get(Math.max(10_000, timeout.toMillis()),
            TimeUnit.MILLISECONDS);
      } catch (Exception e) {
        throw new CliException(TandemCli.FAILED, "the new lease of shard " + shard
            + " did not reach " + target + "'s changelog: " + e);
      }
      Report r = new Report("moves");
      Map<String, Object> row = r.row();
      row.put("shard", shard);
      row.put("from", m.takeover().from().name());
      row.put("to", target.name());
      row.put("epoch", m.takeover().newEpoch());
      row.put("acknowledged", m.oldOwnerAcknowledged());
      row.put("bound", m.bound().isPresent() ? m.bound().getAsLong() : "unknown");
      row.put("detail", m.detail());
      r.print(format(), out());
      return m.oldOwnerAcknowledged() ? TandemCli.OK : TandemCli.PARTIAL;
    }
  }
}
