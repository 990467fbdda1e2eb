package dev.tandem.cli;

import dev.tandem.cli.TandemCli.CliException;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.TandemRegionConfig;
import dev.tandem.core.RegionId;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * One run's access to the regions: the region's properties file with {@code --command-config}
 * applied to every region's clients, validated by {@link TandemRegionConfig} (a mistake is a usage
 * error naming the key); probes of each region's cluster; and the operator's replica, {@link
 * TandemRegion#adminView}, in a temporary directory deleted at close.
 */
final class Session implements AutoCloseable {

  /** Bound of each probe (Admin calls) of a region's cluster. */
  static final Duration PROBE_TIMEOUT = Duration.ofSeconds(10);

  final Map<String, Object> keys;
  final TandemRegionConfig config;
  private final List<Path> dirs = new ArrayList<>();
  private final List<TandemRegion> views = new ArrayList<>();

  private final java.io.PrintWriter trace;
  private long stepStart = System.nanoTime();

  private Session(Map<String, Object> keys, java.io.PrintWriter trace) {
    this.trace = trace;
    this.keys = keys;
    this.config = new TandemRegionConfig(keys);
  }

  /** Reads {@code --config} and {@code --command-config} of {@code root}. */
  static Session open(TandemCli root, picocli.CommandLine command) {
    if (root.config == null) {
      throw new picocli.CommandLine.ParameterException(command,
          "Missing required option: '--config=FILE' (the region's properties file)");
    }
    Map<String, Object> keys = new LinkedHashMap<>();
    TandemRegion.load(existing(root.config, "--config")).forEach((k, v) -> keys.put((String) k, v));
    if (root.commandConfig != null) {
      Properties security = TandemRegion.load(existing(root.commandConfig, "--command-config"));
      Object regions = keys.get(TandemRegionConfig.REGIONS_CONFIG);
      if (regions == null) {
        throw new CliException(TandemCli.USAGE, "--config " + root.config + " sets no "
            + TandemRegionConfig.REGIONS_CONFIG);
      }
      // like Kafka's tools: the operator's own client settings, for every region's clients
      for (String r : regions.toString().split(",")) {
        security.forEach((k, v) ->
            keys.put(TandemRegionConfig.REGION_PREFIX + r.trim() + "." + k, v));
      }
    }
    Session s = new Session(keys, root.verbose ? command.getErr() : null);
    s.stepStart = System.nanoTime()
        - java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime() * 1_000_000;
    s.step("started and read the configuration");
    return s;
  }

  /** With {@code --verbose}: the step just done and how long it took, to stderr. */
  void step(String done) {
    long now = System.nanoTime();
    if (trace != null) {
      trace.printf("tandem: %s (%d ms)%n", done, (now - stepStart) / 1_000_000);
      trace.flush();
    }
    stepStart = now;
  }

  private static Path existing(Path file, String option) {
    if (!Files.isRegularFile(file)) {
      throw new CliException(TandemCli.USAGE, option + ": no such file " + file);
    }
    return file;
  }

  /** Every region, in the file's order. */
  List<RegionId> regions() {
    return config.regions();
  }

  /** The file's own region ({@code tandem.region}). */
  RegionId home() {
    return config.region();
  }

  /** Kafka client settings toward {@code r}, with the file's and the command config's security. */
  Properties clientProperties(RegionId r, String clientId) {
    Properties p = config.regionClientProperties(r);
    p.putIfAbsent(AdminClientConfig.CLIENT_ID_CONFIG, clientId);
    p.putIfAbsent(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(PROBE_TIMEOUT.toMillis()));
    p.putIfAbsent(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG,
        String.valueOf(PROBE_TIMEOUT.toMillis()));
    return p;
  }

  /** The changelog topic ({@code <prefix>.changelog}). */
  String changelogTopic() {
    return config.getString(TandemRegionConfig.CHANGELOG_PREFIX_CONFIG) + ".changelog";
  }

  /** What a probe of a region's cluster found. */
  record Probe(RegionId region, boolean reachable, boolean authRefused, boolean changelog,
      String error) {
    String state() {
      return reachable ? (changelog ? "reachable" : "reachable, no changelog topic")
          : (authRefused ? "refused: " : "unreachable: ") + error;
    }
  }

  /** Describes {@code r}'s cluster and its changelog topic, within {@link #PROBE_TIMEOUT}. */
  Probe probe(RegionId r) {
    try (Admin admin = Admin.create(clientProperties(r, "tandem-cli-probe-" + r))) {
      admin.describeCluster().clusterId().get(PROBE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      try {
        TopicDescription d = admin.describeTopics(List.of(changelogTopic())).allTopicNames()
            .get(PROBE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).get(changelogTopic());
        return new Probe(r, true, false, d != null, null);
      } catch (ExecutionException e) {
        if (e.getCause() instanceof UnknownTopicOrPartitionException) {
          return new Probe(r, true, false, false, null);
        }
        throw e;
      }
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      return new Probe(r, false, c instanceof AuthenticationException, false, c.toString());
    } catch (java.util.concurrent.TimeoutException e) {
      return new Probe(r, false, false, false, "no answer within " + PROBE_TIMEOUT.toSeconds() + " s");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Probe(r, false, false, false, "interrupted");
    } catch (RuntimeException e) {
      return new Probe(r, false, e instanceof AuthenticationException, false, e.toString());
    }
  }

  /** Probes every region; fails with {@link TandemCli#UNREACHABLE} when none answers. */
  Map<RegionId, Probe> probeAll() {
    Map<RegionId, Probe> all = new LinkedHashMap<>();
    for (RegionId r : regions()) {
      all.put(r, probe(r));
      step("probed " + r + ": " + all.get(r).state());
    }
    if (all.values().stream().noneMatch(Probe::reachable)) {
      StringBuilder b = new StringBuilder("no region's cluster answered:");
      all.values().forEach(p -> b.append("\n  ").append(p.region()).append(": ").append(p.state()));
      throw new CliException(TandemCli.UNREACHABLE, b.toString());
    }
    return all;
  }

  /**
   * The region whose changelog a read uses: the file's own if it answers with its changelog, else
   * the first that does.
   */
  RegionId readFrom(Map<RegionId, Probe> probes) {
    Probe home = probes.get(home());
    if (home != null && home.reachable() && home.changelog()) {
      return home();
    }
    return probes.values().stream().filter(p -> p.reachable() && p.changelog()).findFirst()
        .map(Probe::region)
        .orElseThrow(() -> new CliException(TandemCli.USAGE, "no region has the changelog topic "
            + changelogTopic() + " (is " + TandemRegionConfig.CHANGELOG_PREFIX_CONFIG
            + " the region's?)"));
  }

  /**
   * The operator's replica acting as {@code actAs} (reading {@code actAs}'s changelog, writing, if
   * the command writes, as a member of it), restored within {@code restore}.
   */
  TandemRegion view(RegionId actAs, Duration restore) {
    Path dir;
    try {
      dir = Files.createTempDirectory("tandem-cli-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    dirs.add(dir);
    Map<String, Object> k = new LinkedHashMap<>(keys);
    k.put(TandemRegionConfig.REGION_CONFIG, actAs.name());
    TandemRegion v = TandemRegion.adminView(k, dir);
    views.add(v);
    step("opened a replica as " + actAs + " in " + dir);
    if (!v.replicationLog().awaitRestored(restore)) {
      throw new CliException(TandemCli.UNREACHABLE, "the changelog " + changelogTopic() + " of "
          + actAs + " could not be read to its end within " + restore.toSeconds() + " s");
    }
    step("restored it from " + actAs + "'s changelog");
    return v;
  }

  @Override
  public void close() {
    for (TandemRegion v : views) {
      v.close();
      step("closed the replica as " + v.region());
    }
    dirs.forEach(Session::delete);
    if (trace != null
        && java.lang.management.ManagementFactory.getOperatingSystemMXBean()
            instanceof com.sun.management.OperatingSystemMXBean os) {
      // CPU time: the figure that does not depend on how busy the machine is
      step("done; this process used " + os.getProcessCpuTime() / 1_000_000 + " ms of CPU");
    }
  }

  /** Deletes a temporary directory of this tool (quietly: one left behind is harmless). */
  static void delete(Path d) {
    try (Stream<Path> s = Files.walk(d)) {
      s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // left behind
    }
  }
}
