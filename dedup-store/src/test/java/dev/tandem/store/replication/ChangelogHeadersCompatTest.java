package dev.tandem.store.replication;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.RegionId;
import dev.tandem.core.SigningKey;
import dev.tandem.core.TandemClock;
import dev.tandem.core.TandemIds;
import dev.tandem.publisher.KafkaEnvelopeHeaders;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.StoreMeterNames;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 20, the changelog without envelope headers, across versions: during a rolling upgrade one
 * changelog holds copies written by the previous version (with the four envelope headers) and by this
 * one (key and value only, unless the log authenticates). A reader that does not authenticate applies
 * both alike (it never looked at the headers); an authenticating reader applies signed copies only,
 * whichever version wrote them (this version writes the signed envelope when it authenticates), and
 * counts a header-less copy as unauthenticated, as it counted an unsigned one before.
 */
class ChangelogHeadersCompatTest {

  private static final RegionId A = TestRegions.A;
  private static final RegionId B = TestRegions.B;
  private static final String TOPIC = "compat.changelog";
  private static final EnvelopeSigner SIGNER = EnvelopeSigner.signingWith(SigningKey.of("cl-1",
      "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII)));

  @TempDir Path dir;

  /** The peer region's store, whose changes the copies carry. */
  private IdempotencyStore peer() {
    return IdempotencyStore.builder().region(B).instance("i-b").directory(dir.resolve("b")).build();
  }

  /** This region's store, whose reader applies the copies; its meters go to {@code am}. */
  private IdempotencyStore local(SimpleMeterRegistry am) {
    return IdempotencyStore.builder().region(A).instance("i-a").directory(dir.resolve("a"))
        .meterRegistry(am).build();
  }

  /** The peer's final LOCAL record for {@code id}, claimed and completed: its COMPLETED. */
  private static IdRecord completed(IdempotencyStore peer, String id, int shard) {
    List<IdRecord> written = LocalWrites.of(peer, id, shard);
    return written.get(written.size() - 1);
  }

  /** A changelog copy of {@code r}; {@code envelope}: null (this version), unsigned or signed. */
  private static ConsumerRecord<byte[], byte[]> copy(IdRecord r, long offset, Envelope envelope) {
    byte[] value = ChangelogCodec.encode(r);
    byte[] key = ChangelogCodec.recordKey(B, "inc-b", r.id()).getBytes(StandardCharsets.UTF_8);
    RecordHeaders headers = new RecordHeaders();
    if (envelope != null) {
      KafkaEnvelopeHeaders.write(envelope, headers);
    }
    return new ConsumerRecord<>(TOPIC, r.shard(), offset, 0L, TimestampType.CREATE_TIME,
        key.length, value.length, key, value, headers, Optional.empty());
  }

  private static Envelope envelopeOf(IdRecord r) {
    return Envelope.forPayload(TandemIds.newId(), ChangelogCodec.encode(r), r.shard(), 1L);
  }

  private static ConsumerRecords<byte[], byte[]> poll(List<ConsumerRecord<byte[], byte[]>> rs) {
    return new ConsumerRecords<>(Map.of(new TopicPartition(TOPIC, 0), rs),
        Map.<TopicPartition, OffsetAndMetadata>of());
  }

  private static double bad(SimpleMeterRegistry m, String reason) {
    var c = m.find(StoreMeterNames.REPLICATION_BAD_RECORDS).tag("reason", reason).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void aReaderWithoutAuthenticationAppliesCopiesWithAndWithoutHeaders() {
    SimpleMeterRegistry am = new SimpleMeterRegistry();
    try (IdempotencyStore peer = peer();
        IdempotencyStore local = local(am)) {
      IdRecord old = completed(peer, "written-by-the-previous-version", 0);
      IdRecord bare = completed(peer, "written-by-this-version", 0);
      BatchApplier applier = new BatchApplier(local, new LagTracker(A, TandemClock.system(), am), am);
      applier.apply(poll(List.of(copy(old, 0, envelopeOf(old)), copy(bare, 1, null))),
          tp -> TOPIC + "/" + tp.partition());
      assertTrue(local.isTerminal(old.id(), 0), "the copy with envelope headers is applied");
      assertTrue(local.isTerminal(bare.id(), 0), "the copy without headers is applied");
      assertEquals(0.0, bad(am, "corrupt") + bad(am, "unauthenticated"));
    }
  }

  @Test
  void anAuthenticatingReaderAppliesSignedCopiesOnly() {
    SimpleMeterRegistry am = new SimpleMeterRegistry();
    try (IdempotencyStore peer = peer();
        IdempotencyStore local = local(am)) {
      IdRecord signed = completed(peer, "signed", 0);
      IdRecord bare = completed(peer, "bare", 0);
      BatchApplier applier =
          new BatchApplier(local, new LagTracker(A, TandemClock.system(), am), am, SIGNER);
      applier.apply(poll(List.of(copy(signed, 0, SIGNER.sign(envelopeOf(signed))),
              copy(bare, 1, null))),
          tp -> TOPIC + "/" + tp.partition());
      assertTrue(local.isTerminal(signed.id(), 0), "the signed copy is applied");
      assertTrue(local.get(bare.id(), 0).isEmpty(), "a copy without an envelope is not");
      assertEquals(1.0, bad(am, "unauthenticated"));
    }
  }
}
