package dev.tandem.cli;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.core.Hlc;
import dev.tandem.core.RegionId;
import dev.tandem.store.ShardLease;
import dev.tandem.store.replication.ReplicationLag;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tandem status}: every shard's owner, epoch and the owner's last heartbeat as the replicated
 * ownership view holds them, read from a region's changelog by the operator's own replica (nothing
 * is written, no lock of a running region is taken). Figures only the running processes know (held
 * copies, each takeover's duplicate bound) are "n/a" with a note naming the meter that has them.
 */
@Command(name = "status", mixinStandardHelpOptions = true, description = "Shards, owners, epochs, lag and detected duplicates.")
final class StatusCommand extends BaseCommand {

  @Option(names = "--restore-timeout", paramLabel = "DURATION", defaultValue = "60s",
      converter = DurationConverter.class,
      description = "How long to read the changelog to its end (default ${DEFAULT-VALUE}).")
  Duration restoreTimeout;

  @Override
  public Integer call() {
    try (Session s = session()) {
      Map<RegionId, Session.Probe> probes = s.probeAll();
      RegionId from = s.readFrom(probes);
      TandemRegion view = s.view(from, restoreTimeout);
      Report r = report(s, probes, from, view);
      r.print(format(), out());
      return probes.values().stream().allMatch(Session.Probe::reachable)
          ? TandemCli.OK : TandemCli.PARTIAL;
    }
  }

  static Report report(Session s, Map<RegionId, Session.Probe> probes, RegionId from,
      TandemRegion view) {
    TandemRegionConfig c = s.config;
    Report r = new Report("shards");
    Map<String, Object> regions = new LinkedHashMap<>();
    probes.forEach((id, p) -> regions.put(id.name(), p.state()));
    r.figure("regions", regions);
    r.figure("read from", from.name() + " changelog " + s.changelogTopic());
    r.figure("guarantee", c.detectOnly() ? "detect-only" : "full");
    r.figure("policy", c.policyName());
    r.figure("shards", view.shardCount());
    r.figure("detected duplicates", view.store().detectedDuplicates());
    Map<String, Object> lag = new LinkedHashMap<>();
    for (RegionId origin : view.regions()) {
      ReplicationLag l = view.replicationLog().lag(origin);
      lag.put(origin.name(), l.time().map(d -> d.toMillis() + " ms").orElse("no heartbeat seen"));
    }
    r.figure("replication lag (newest heartbeat read)", lag);
    long now = Instant.now().toEpochMilli();
    ShardOwnership o = view.ownership();
    for (int shard = 0; shard < view.shardCount(); shard++) {
      ShardLease l = o.lease(shard);
      Map<String, Object> row = r.row();
      row.put("shard", shard);
      row.put("owner", l.owner().name());
      row.put("epoch", l.epoch());
      row.put("home", o.initialOwner(shard).name());
      row.put("heartbeat", l.heartbeatHlc() == 0 ? null
          : Duration.ofMillis(Math.max(0, now - Hlc.physicalMillis(l.heartbeatHlc()))).toMillis()
              + " ms ago");
      row.put("position", l.position() < 0 ? null : l.position());
      row.put("unacked", l.unacked());
      row.put("window", l.window());
      row.put("peer", l.heartbeatHlc() == 0 ? null : l.peerReachable() ? "reachable" : "UNREACHABLE");
      // an evacuation holds against automatic failback until a return
      row.put("evacuated from", ShardOwnership.evacuatedFrom(l).map(RegionId::name).orElse(null));
      row.put("held", "n/a");
      row.put("last takeover", l.epoch() == 0 ? "none" : "epoch " + l.epoch() + " to "
          + l.owner().name());
      // a lease whose owner lifted its window: a takeover now would have an unknown bound
      row.put("bound", l.epoch() == 0 ? null
          : "lifted".equals(l.attributes().get("window")) || !l.peerReachable() ? "unknown" : "n/a");
    }
    r.note("unacked: the owner's changes its peer has not acknowledged (its lag in changes, at most "
        + "the window W while the peer is reachable)");
    r.note("held and each takeover's duplicate bound are known only inside the running processes: "
        + "meters tandem.consumer.follower.held and tandem.consumer.duplicate.bound(.conditional|.unknown), or TandemRegion.health()");
    return r;
  }
}
