package dev.tandem.store.replication;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.core.Shards;
import dev.tandem.core.SigningKey;
import dev.tandem.core.TandemIds;
import dev.tandem.publisher.KafkaEnvelopeHeaders;
import dev.tandem.store.ClaimResult;
import dev.tandem.store.Completer;
import dev.tandem.store.IdRecord;
import dev.tandem.store.Owner;
import dev.tandem.store.Phase;
import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import dev.tandem.testkit.junit.TandemClusters;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Authenticated changelog on two real KRaft clusters: a writer with access to a changelog topic
 * injects well-formed records claiming a victim id is COMPLETED (which would make every region skip
 * the real message). Unsigned, wrongly signed and replayed-signature records are skipped and counted,
 * never applied; signed records from the real peer keep replicating around them.
 */
@TandemClusters
class ChangelogAuthenticationTest {

  static final SigningKey KEY = SigningKey.of("changelog-1", filled(3));
  static final SigningKey EVIL = SigningKey.of("changelog-1", filled(4));
  static TwoRegions regions;

  @Test
  void forgedChangelogRecordsAreRejectedAndCounted(@TempDir Path dir) throws Exception {
    String prefix = "auth";
    EnvelopeSigner signer = EnvelopeSigner.signingWith(KEY);
    try (Replica a = Replica.open(regions, "region-a", dir.resolve("a"), prefix,
            b -> b.authenticate(signer));
        Replica b = Replica.open(regions, "region-b", dir.resolve("b"), prefix,
            bb -> bb.authenticate(signer))) {
      // genuine replication works with signatures on
      String before = "genuine-before";
      completeIn(a, before);
      await().atMost(Duration.ofSeconds(30))
          .until(() -> b.store.get(before, shard(before)).map(IdRecord::isTerminal).orElse(false));

      String victim = TandemIds.newId();
      int shard = shard(victim);
      byte[] forged = ChangelogCodec.encode(forgedCompleted(victim, shard));
      // the value alone is a perfectly valid changelog record: only authentication stops it
      assertInstanceOf(ChangelogEntry.RecordEntry.class, ChangelogCodec.decode(forged));

      RecordHeaders wrongKey = new RecordHeaders();
      KafkaEnvelopeHeaders.write(EnvelopeSigner.signingWith(EVIL).sign(
          Envelope.of(TandemIds.newId(), PayloadDigest.of(forged), shard, 1L)), wrongKey);
      RecordHeaders replayed = new RecordHeaders();
      // a genuine signature, captured from another record, over another value
      KafkaEnvelopeHeaders.write(signer.sign(
          Envelope.of(TandemIds.newId(), PayloadDigest.of("other".getBytes(UTF_8)), shard, 1L)),
          replayed);
      String topic = prefix + ".changelog";
      String key = ChangelogCodec.recordKey(TestRegions.A, "evil", victim);
      try (KafkaProducer<String, byte[]> attacker =
          new KafkaProducer<>(regions.b().producerProperties())) {
        for (RecordHeaders h : List.of(new RecordHeaders(), wrongKey, replayed)) {
          attacker.send(new ProducerRecord<>(topic, shard, key, forged, h))
              .get(10, TimeUnit.SECONDS);
        }
      }
      await().atMost(Duration.ofSeconds(30)).until(
          () -> b.counter("tandem.replication.bad.records", "reason", "unauthenticated") >= 3);
      assertEquals(3.0, b.counter("tandem.replication.bad.records", "reason", "unauthenticated"));
      assertEquals(0.0, b.counter("tandem.replication.bad.records", "reason", "corrupt"));
      assertTrue(b.store.get(victim, shard).isEmpty(), "the forged COMPLETED was not applied");

      // replication continues past the forged records, and the victim id is still claimable
      String after = "genuine-after";
      completeIn(a, after);
      await().atMost(Duration.ofSeconds(30))
          .until(() -> b.store.get(after, shard(after)).map(IdRecord::isTerminal).orElse(false));
      assertInstanceOf(ClaimResult.Acquired.class,
          b.store.claim(victim, shard, PayloadDigest.of("real".getBytes(UTF_8)), 0,
              Duration.ofMinutes(1)));
      assertEquals(0.0, a.counter("tandem.replication.bad.records", "reason", "unauthenticated"),
          "genuine records and heartbeats all verify");
      // no secret in any metric tag
      String hex = java.util.HexFormat.of().formatHex(filled(3));
      String b64 = java.util.Base64.getEncoder().encodeToString(filled(3));
      for (Replica r : List.of(a, b)) {
        r.meters.getMeters().forEach(m -> m.getId().getTags().forEach(t -> assertTrue(
            !t.getValue().contains(hex) && !t.getValue().contains(b64), "secret in tag " + t)));
      }
    }
  }

  static void completeIn(Replica r, String id) {
    assertInstanceOf(ClaimResult.Acquired.class, r.store.claim(id, shard(id),
        PayloadDigest.of(id.getBytes(UTF_8)), 0, Duration.ofMinutes(5)));
    r.store.complete(id, shard(id), null);
  }

  static IdRecord forgedCompleted(String id, int shard) {
    RegionId a = TestRegions.A;
    return new IdRecord(id, shard, 1, Phase.COMPLETED, 1, 0, new Owner(a, "evil"), 0, Long.MAX_VALUE / 2,
        System.currentTimeMillis(), new TreeSet<>(List.of(PayloadDigest.of("evil".getBytes(UTF_8)))),
        new TreeSet<>(List.of(new Completer(a, "evil", 1))), null, null);
  }

  static int shard(String id) {
    return Shards.forKey(id, Replica.SHARDS);
  }

  static byte[] filled(int v) {
    byte[] b = new byte[32];
    Arrays.fill(b, (byte) v);
    return b;
  }
}
