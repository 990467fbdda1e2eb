package dev.tandem.cli;

import dev.tandem.cli.TandemCli.CliException;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.kafka.KafkaDeadLetterSink;
import dev.tandem.core.RegionId;
import dev.tandem.core.TandemHeaders;
import dev.tandem.store.IdRecord;
import dev.tandem.store.Phase;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tandem dlq list|redrive --topic T}: the dead letters of {@code T} ({@code
 * T.tandem-dlq} in each region's cluster, written by {@link KafkaDeadLetterSink}: the original key,
 * value and headers plus {@code tandem-dlq-*}), and their re-drive. A re-drive keeps the envelope
 * (the {@code tandem-id} and every original header, so the copy is still deduplicated in both
 * regions) and the partition (partition n is shard n): it opens a new generation of the id's
 * DEAD_LETTERED record in the replicated store, waits until both changelogs hold it, then
 * re-publishes the original record to {@code T} in the region that dead-lettered it.
 */
@Command(name = "dlq", mixinStandardHelpOptions = true, description = "Dead letters: list, redrive.",
    subcommands = {DlqCommand.ListCommand.class, DlqCommand.RedriveCommand.class})
final class DlqCommand implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(),
        "a dlq command is required: list, redrive");
  }

  /** One dead letter as read from a region's dead-letter topic. */
  record Letter(RegionId region, int partition, long offset, long timestamp, String id,
      String reason, String detail, String source, byte[] key, byte[] value, Header[] headers) {

    /** The topic and partition the original was read from ({@code topic/partition@offset}). */
    Optional<TopicPartition> origin() {
      if (source == null || !source.contains("/") || !source.contains("@")) {
        return Optional.empty(); // "shard n": not from a Kafka record
      }
      String tp = source.substring(0, source.lastIndexOf('@'));
      int slash = tp.lastIndexOf('/');
      try {
        return Optional.of(new TopicPartition(tp.substring(0, slash),
            Integer.parseInt(tp.substring(slash + 1))));
      } catch (NumberFormatException e) {
        return Optional.empty();
      }
    }

    Map<String, Object> row() {
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("region", region.name());
      r.put("partition", partition);
      r.put("offset", offset);
      r.put("id", id);
      r.put("reason", reason);
      r.put("source", source);
      r.put("time", Instant.ofEpochMilli(timestamp).toString());
      r.put("detail", detail);
      return r;
    }
  }

  /** Options of both dlq commands. */
  abstract static class DlqBase extends BaseCommand {
    @Option(names = "--topic", required = true, paramLabel = "TOPIC",
        description = "The data topic (its dead letters are in TOPIC" + KafkaDeadLetterSink.TOPIC_SUFFIX
            + ").")
    String topic;

    @Option(names = "--region", paramLabel = "REGION",
        description = "Only this region's dead letters (default: every region's).")
    String region;

    List<RegionId> regions(Session s) {
      if (region == null) {
        return s.regions();
      }
      if (!s.regions().contains(RegionId.of(region))) {
        throw usage("--region " + region + ": not one of tandem.regions " + s.regions());
      }
      return List.of(RegionId.of(region));
    }

    /** Every dead letter of {@code topic} in {@code r}, oldest first. */
    static List<Letter> read(Session s, RegionId r, String topic, List<String> missing) {
      String dlq = KafkaDeadLetterSink.topicFor(topic);
      Properties p = s.clientProperties(r, "tandem-cli-dlq-" + r);
      p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
      p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
      p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      p.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
      p.remove(ConsumerConfig.GROUP_ID_CONFIG); // manual assign: no group, nothing committed
      List<Letter> out = new ArrayList<>();
      try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
        List<PartitionInfo> parts = c.partitionsFor(dlq, Session.PROBE_TIMEOUT);
        if (parts == null || parts.isEmpty()) {
          missing.add(r + " has no topic " + dlq);
          return out;
        }
        List<TopicPartition> tps = parts.stream()
            .map(i -> new TopicPartition(dlq, i.partition())).toList();
        c.assign(tps);
        c.seekToBeginning(tps);
        Map<TopicPartition, Long> end = c.endOffsets(tps, Session.PROBE_TIMEOUT);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (tps.stream().anyMatch(tp -> c.position(tp, Session.PROBE_TIMEOUT) < end.get(tp))) {
          if (System.nanoTime() > deadline) {
            throw new CliException(TandemCli.UNREACHABLE, dlq + " in " + r
                + " could not be read to its end within 60 s");
          }
          for (ConsumerRecord<byte[], byte[]> rec : c.poll(Duration.ofMillis(500))) {
            out.add(new Letter(r, rec.partition(), rec.offset(), rec.timestamp(),
                header(rec, TandemHeaders.ID), header(rec, KafkaDeadLetterSink.REASON_HEADER),
                header(rec, KafkaDeadLetterSink.DETAIL_HEADER),
                header(rec, KafkaDeadLetterSink.SOURCE_HEADER), rec.key(), rec.value(),
                rec.headers().toArray()));
          }
        }
      } catch (org.apache.kafka.common.errors.AuthenticationException e) {
        throw new CliException(TandemCli.UNREACHABLE, r + " refused the credentials: " + e);
      } catch (org.apache.kafka.common.errors.TimeoutException e) {
        throw new CliException(TandemCli.UNREACHABLE, r + " did not answer: " + e.getMessage());
      }
      return out;
    }

    private static String header(ConsumerRecord<?, ?> rec, String name) {
      Header h = rec.headers().lastHeader(name);
      return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
  }

  /** {@code tandem dlq list --topic T [--region R]}. */
  @Command(name = "list", mixinStandardHelpOptions = true, description = "List the dead letters of a topic in every region.")
  static final class ListCommand extends DlqBase {
    @Override
    public Integer call() {
      try (Session s = session()) {
        Report rep = new Report("letters");
        List<String> missing = new ArrayList<>();
        int n = 0;
        for (RegionId r : regions(s)) {
          for (Letter l : read(s, r, topic, missing)) {
            rep.rows.add(l.row());
            n++;
          }
          s.step("read " + KafkaDeadLetterSink.topicFor(topic) + " in " + r);
        }
        rep.figure("topic", KafkaDeadLetterSink.topicFor(topic));
        rep.figure("dead letters", n);
        missing.forEach(rep::note);
        rep.print(format(), out());
        return TandemCli.OK;
      }
    }
  }

  /** {@code tandem dlq redrive --topic T (--id ID... | --all) [--region R]}. */
  @Command(name = "redrive", mixinStandardHelpOptions = true, description = "Re-publish dead letters to their topic and partition "
      + "with their envelope (still deduplicated), opening a new generation of their id.")
  static final class RedriveCommand extends DlqBase {

    static final class Selection {
      @Option(names = "--id", paramLabel = "ID", split = ",",
          description = "The tandem-id(s) to redrive (repeat or comma-separate).")
      List<String> ids;

      @Option(names = "--all", description = "Every dead letter of the topic.")
      boolean all;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Selection selection;

    @Option(names = "--settle", paramLabel = "DURATION", defaultValue = "2s",
        converter = DurationConverter.class,
        description = "After both changelogs hold the new generation, how long the running "
            + "replicas get to read it before the copy is re-published (default ${DEFAULT-VALUE}).")
    Duration settle;

    @Option(names = "--await", paramLabel = "DURATION", defaultValue = "30s",
        converter = DurationConverter.class,
        description = "After re-publishing, how long to wait until a running consumer has taken each "
            + "re-published id up (claimed, completed or dead-lettered again, as this command's "
            + "replica reads the changelog); an id not taken up by then is reported and the exit "
            + "code is 1. 0s: do not wait (default ${DEFAULT-VALUE}).")
    Duration await;

    /** How often the replica is looked at while waiting for the ids to be taken up. */
    private static final long LOOK_EVERY_MILLIS = 100;

    @Override
    public Integer call() throws Exception {
      try (Session s = session()) {
        List<String> missing = new ArrayList<>();
        List<Letter> chosen = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        Set<String> found = new HashSet<>();
        for (RegionId r : regions(s)) {
          for (Letter l : read(s, r, topic, missing)) {
            boolean wanted = selection.all || (l.id() != null && selection.ids.contains(l.id()));
            if (wanted && seen.add(r + "|" + l.id() + "|" + l.source())) {
              chosen.add(l);
              if (l.id() != null) {
                found.add(l.id());
              }
            }
          }
        }
        Report rep = new Report("letters");
        rep.figure("topic", KafkaDeadLetterSink.topicFor(topic));
        missing.forEach(rep::note);
        boolean partial = false;
        if (!selection.all) {
          for (String id : new LinkedHashSet<>(selection.ids)) {
            if (!found.contains(id)) {
              rep.note("no dead letter with id " + id);
              partial = true;
            }
          }
        }
        // the store first: each DEAD_LETTERED id gets a new generation, in both changelogs, so the
        // re-published copy is claimed (once) instead of skipped as dead-lettered
        Map<Letter, String> storeState = new LinkedHashMap<>();
        Map<Letter, String> skip = new LinkedHashMap<>();
        // each letter's store record as the copy is re-published (absent: none); taken up = changed
        Map<Letter, Optional<IdRecord>> before = new LinkedHashMap<>();
        TandemRegion view = null;
        if (!chosen.isEmpty()) {
          RegionId from = s.readFrom(s.probeAll());
          view = s.view(from, Duration.ofSeconds(60));
          Set<Integer> shards = new HashSet<>();
          Set<String> redriven = new HashSet<>();
          for (Letter l : chosen) {
            Optional<TopicPartition> origin = l.origin();
            if (l.id() == null) {
              skip.put(l, "no tandem-id: a copy without an id cannot be deduplicated");
              continue;
            }
            if (origin.isEmpty() || origin.get().partition() >= view.shardCount()) {
              skip.put(l, "not from a Kafka record of a shard (source " + l.source() + ")");
              continue;
            }
            int shard = origin.get().partition();
            Optional<IdRecord> rec = view.store().get(l.id(), shard);
            if (rec.isPresent() && rec.get().phase() == Phase.COMPLETED) {
              skip.put(l, "already COMPLETED: processed once, nothing to redrive");
              continue;
            }
            if (rec.isPresent() && rec.get().phase() == Phase.DEAD_LETTERED
                && redriven.add(l.id())) {
              IdRecord next = view.store().redrive(l.id(), shard);
              storeState.put(l, "generation " + next.generation());
              before.put(l, Optional.of(next));
              shards.add(shard);
            } else {
              storeState.put(l, rec.map(x -> x.phase().name()).orElse("absent"));
              before.putIfAbsent(l, rec);
            }
          }
          for (int shard : shards) {
            for (RegionId r : view.regions()) {
              view.replicationLog().barrier(shard, r).get(30, TimeUnit.SECONDS);
            }
          }
          if (!shards.isEmpty()) {
            // the running replicas read their changelog continuously; the re-published copy must
            // not reach a consumer before its replica holds the new generation (status shows the
            // replication lag this is to cover). A fixed time, not a condition: the barriers above
            // are the condition this process can see (both changelogs hold the generation); what a
            // replica in another process has read is reported nowhere (heartbeats carry the
            // writer's clock, not read positions), so there is nothing further to wait on before the
            // publish. After it there is: awaitTakenUp waits until the id was taken up, and names
            // those that were not (a copy skipped because it came before its replica's generation)
            Thread.sleep(settle.toMillis());
          }
        }
        int done = 0;
        Map<Letter, Map<String, Object>> published = new LinkedHashMap<>();
        for (Letter l : chosen) {
          Map<String, Object> row = rep.row();
          row.put("region", l.region().name());
          row.put("id", l.id());
          row.put("reason", l.reason());
          row.put("store", storeState.get(l));
          if (skip.containsKey(l)) {
            row.put("outcome", "skipped: " + skip.get(l));
            continue;
          }
          TopicPartition tp = l.origin().orElseThrow();
          RecordMetadata md = republish(s, l, tp);
          row.put("outcome", "redriven to " + md.topic() + "/" + md.partition() + "@" + md.offset());
          published.put(l, row);
          done++;
        }
        int notTakenUp = 0;
        if (!published.isEmpty() && await.compareTo(Duration.ZERO) > 0) {
          notTakenUp = awaitTakenUp(s, view, published, before, rep);
        }
        rep.figure("redriven", done + " of " + chosen.size());
        rep.print(format(), out());
        return partial || done < chosen.size() || notTakenUp > 0 ? TandemCli.PARTIAL : TandemCli.OK;
      }
    }

    /**
     * Waits, up to {@code --await}, until this command's replica shows every re-published id taken
     * up by a running consumer: its record changed from what it was when the copy went out (claimed,
     * completed, or dead-lettered again, at the new generation). This is the condition the settle
     * time before the publish cannot be: a copy that reached a replica before that replica read the
     * new generation is skipped as dead-lettered, and only the missing claim shows it. Reports the
     * outcome per letter; returns how many were not taken up.
     */
    private int awaitTakenUp(Session s, TandemRegion view, Map<Letter, Map<String, Object>> published,
        Map<Letter, Optional<IdRecord>> before, Report rep) throws InterruptedException {
      Map<Letter, Map<String, Object>> waiting = new LinkedHashMap<>(published);
      long deadline = System.nanoTime() + await.toNanos();
      while (true) {
        for (var it = waiting.entrySet().iterator(); it.hasNext(); ) {
          var e = it.next();
          Letter l = e.getKey();
          Optional<IdRecord> now = view.store().get(l.id(), l.origin().orElseThrow().partition());
          if (now.isPresent() && takenUp(before.getOrDefault(l, Optional.empty()), now.get())) {
            e.getValue().put("taken up", now.get().phase() + " at generation " + now.get().generation());
            it.remove();
          }
        }
        if (waiting.isEmpty() || System.nanoTime() - deadline >= 0) {
          break;
        }
        // the replica applies the changelog on its own thread and tells no one: look again soon
        Thread.sleep(LOOK_EVERY_MILLIS);
      }
      s.step("waited for the re-published ids to be taken up: " + (published.size() - waiting.size())
          + " of " + published.size());
      rep.figure("taken up", (published.size() - waiting.size()) + " of " + published.size());
      for (var e : waiting.entrySet()) {
        Letter l = e.getKey();
        e.getValue().put("taken up", "not within " + await.toSeconds() + " s");
        rep.note("id " + l.id() + " was not taken up within " + await.toSeconds() + " s: no consumer of "
            + topic + " running, a consumer behind, or the copy reached a replica that had not read "
            + "the new generation yet (skipped as dead-lettered; set --settle above the replication "
            + "lag and redrive it again)");
      }
      return waiting.size();
    }

    /** Whether {@code now} shows a consumer's work since {@code before} (the record at publish time). */
    static boolean takenUp(Optional<IdRecord> before, IdRecord now) {
      if (before.isEmpty()) {
        return true; // absent when the copy went out: any record is a claim since
      }
      IdRecord b = before.get();
      return now.generation() > b.generation() || now.phase() != b.phase() || now.attempt() > b.attempt();
    }

    /** The original record, its headers without {@code tandem-dlq-*}, to its topic and partition. */
    private static RecordMetadata republish(Session s, Letter l, TopicPartition tp)
        throws Exception {
      Properties p = s.clientProperties(l.region(), "tandem-cli-redrive-" + l.region());
      p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
      p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
      p.put(ProducerConfig.ACKS_CONFIG, "all");
      RecordHeaders headers = new RecordHeaders();
      for (Header h : l.headers()) {
        if (!h.key().startsWith("tandem-dlq-")) {
          headers.add(h.key(), h.value());
        }
      }
      try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
        Future<RecordMetadata> f = producer.send(new ProducerRecord<>(tp.topic(), tp.partition(),
            l.key(), l.value(), headers));
        return f.get(30, TimeUnit.SECONDS);
      }
    }
  }
}
