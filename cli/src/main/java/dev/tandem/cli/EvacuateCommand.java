package dev.tandem.cli;

import dev.tandem.cli.TandemCli.CliException;
import dev.tandem.consumer.ownership.OwnershipAdmin;
import dev.tandem.consumer.ownership.ShardMoveResult;
import dev.tandem.core.RegionId;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tandem evacuate --region R [--timeout D] [--force]}: every shard {@code R} owns moves to the
 * other region by planned handover, done by the owning processes on request ({@link
 * OwnershipAdmin#evacuate}); prints each shard's result. Shards whose owner does not answer in time
 * are reported (exit 1) and stay, unless {@code --force} (a fenced move, with its bound).
 */
@Command(name = "evacuate", mixinStandardHelpOptions = true, description = "Move every shard a region owns to the other region by "
    + "planned handover (zero duplicates); waits for each shard's result.")
class EvacuateCommand extends BaseCommand {

  @Option(names = "--region", required = true, paramLabel = "REGION",
      description = "The region to empty.")
  String region;

  @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "30s",
      converter = DurationConverter.class,
      description = "How long the owners have to answer (default ${DEFAULT-VALUE}).")
  Duration timeout;

  @Option(names = "--force", description = "Move the shards whose owner did not answer by a fenced "
      + "move (reported FORCED, with its duplicate bound).")
  boolean force;

  List<ShardMoveResult> act(OwnershipAdmin admin, RegionId r) {
    return admin.evacuate(r, timeout, force);
  }

  @Override
  public Integer call() throws Exception {
    try (Session s = session()) {
      RegionId r = RegionId.of(region);
      if (!s.regions().contains(r)) {
        throw usage("--region " + region + ": not one of tandem.regions " + s.regions());
      }
      Map<RegionId, Session.Probe> probes = s.probeAll();
      for (Session.Probe p : probes.values()) {
        if (!p.reachable()) {
          // a planned handover needs both changelogs: the destination acknowledges every change
          throw new CliException(TandemCli.UNREACHABLE, "both regions must answer: " + p.region()
              + " is " + p.state());
        }
      }
      Path work = Files.createTempDirectory("tandem-cli-admin-");
      long t0 = System.nanoTime();
      List<ShardMoveResult> results;
      try (OwnershipAdmin admin = OwnershipAdmin.create(s.keys, work)) {
        results = act(admin, r);
      } finally {
        Session.delete(work);
      }
      long tookMs = (System.nanoTime() - t0) / 1_000_000;
      Report rep = new Report("shards");
      rep.figure("request", spec.name() + " " + region);
      rep.figure("took", tookMs + " ms");
      rep.figure("moved", results.stream().filter(ShardMoveResult::moved).count() + " of "
          + results.size());
      for (ShardMoveResult m : results) {
        Map<String, Object> row = rep.row();
        row.put("shard", m.shard());
        row.put("from", m.from().name());
        row.put("to", m.to().name());
        row.put("outcome", m.outcome().name());
        row.put("epoch", m.newEpoch());
        row.put("took", m.took().toMillis() + " ms");
        row.put("bound", m.outcome() == ShardMoveResult.Outcome.FORCED
            ? (m.bound().isPresent() ? (Object) m.bound().getAsLong() : "unknown")
            : m.outcome() == ShardMoveResult.Outcome.MOVED ? (Object) 0L : null);
        row.put("detail", m.detail());
      }
      if (results.isEmpty()) {
        rep.note(region + " owns no shard: nothing to move");
      }
      rep.print(format(), out());
      boolean all = results.stream().allMatch(m -> m.outcome() == ShardMoveResult.Outcome.MOVED);
      return all ? TandemCli.OK : TandemCli.PARTIAL;
    }
  }
}
