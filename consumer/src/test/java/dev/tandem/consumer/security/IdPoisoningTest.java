package dev.tandem.consumer.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.DeadLetter;
import dev.tandem.consumer.DeadLetterReason;
import dev.tandem.consumer.DeadLetterSink;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.MessageHandler;
import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.Outcome;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.SigningKey;
import dev.tandem.core.TandemHeaders;
import dev.tandem.core.TandemIds;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.Phase;
import dev.tandem.store.StoreListener;
import dev.tandem.store.WriteOrigin;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Id poisoning on a real RocksDB store: whoever can write to the queue sends a copy with the
 * victim's id before the real message. With signatures required, the forged copy is dead-lettered
 * with its reason and counted, and it writes nothing to the store, so the real signed message that
 * arrives next is processed, exactly once.
 */
class IdPoisoningTest {

  static final SigningKey CURRENT = SigningKey.of("k-2026-11", secret(7));
  static final SigningKey PREVIOUS = SigningKey.of("k-2026-10", secret(9));
  static final SigningKey ATTACKER = SigningKey.of("k-2026-11", secret(66)); // guesses the key id

  @TempDir Path dir;
  IdempotencyStore store;
  SimpleMeterRegistry registry;
  OnceProcessor processor;
  final List<DeadLetter> letters = new CopyOnWriteArrayList<>();
  final List<IdRecord> storeWrites = new CopyOnWriteArrayList<>();
  final Map<String, AtomicInteger> runs = new HashMap<>();
  final EnvelopeSigner publisherSigner = EnvelopeSigner.signingWith(CURRENT);

  /** How the attacker makes the poisoned copy of the victim's envelope. */
  enum Forgery {
    UNSIGNED(e -> e.unsigned(), "UNSIGNED"),
    UNKNOWN_KEY(e -> EnvelopeSigner.signingWith(SigningKey.of("mallory", secret(1))).sign(e),
        "UNKNOWN_KEY"),
    WRONG_SECRET(e -> EnvelopeSigner.signingWith(ATTACKER).sign(e), "BAD_SIGNATURE"),
    /** A real signature of ANOTHER message replayed onto the victim's id. */
    REPLAYED_SIGNATURE(e -> {
      Envelope other = EnvelopeSigner.signingWith(CURRENT)
          .sign(Envelope.forPayload(TandemIds.newId(), "other".getBytes(StandardCharsets.UTF_8), 0,
              e.publishedAt()));
      return e.withSignature(CURRENT.keyId(), other.signature().orElseThrow());
    }, "BAD_SIGNATURE");

    final UnaryOperator<Envelope> forge;
    final String verification;

    Forgery(UnaryOperator<Envelope> forge, String verification) {
      this.forge = forge;
      this.verification = verification;
    }
  }

  @BeforeEach
  void open() {
    registry = new SimpleMeterRegistry();
    store = IdempotencyStore.builder().region(TestRegions.A).instance("a1")
        .directory(dir.resolve("store")).meterRegistry(registry).build();
    store.addListener(new StoreListener() {
      @Override
      public void onRecord(IdRecord record, WriteOrigin origin) {
        storeWrites.add(record);
      }
    });
    DeadLetterSink sink = letter -> {
      letters.add(letter);
      return CompletableFuture.completedFuture(null);
    };
    processor = OnceProcessor.builder().store(store).deadLetterSink(sink).meterRegistry(registry)
        // rotation: the previous key is still accepted while publishers switch to the current one
        .requireSignatures(EnvelopeSigner.verifyingWith(List.of(CURRENT, PREVIOUS)))
        .build();
  }

  @AfterEach
  void close() {
    processor.close();
    store.close();
  }

  @ParameterizedTest
  @EnumSource(Forgery.class)
  void aForgedCopyArrivingFirstCannotSuppressTheRealMessage(Forgery forgery) {
    String victimId = TandemIds.newId();
    byte[] realPayload = "pay 100 EUR to alice".getBytes(StandardCharsets.UTF_8);
    Envelope real = publisherSigner.sign(
        Envelope.forPayload(victimId, realPayload, 0, System.currentTimeMillis()));

    // the attacker's copy: the victim's id over its own payload (digest matches the forged payload,
    // so only the signature can tell it apart)
    byte[] evilPayload = "pay 100 EUR to mallory".getBytes(StandardCharsets.UTF_8);
    Envelope evil = forgery.forge.apply(
        Envelope.forPayload(victimId, evilPayload, 0, real.publishedAt()));
    Outcome first = processor.process(message(evil, evilPayload), counting());

    Outcome.DeadLettered rejected = assertInstanceOf(Outcome.DeadLettered.class, first);
    assertEquals(DeadLetterReason.BAD_SIGNATURE, rejected.reason());
    assertTrue(rejected.detail().contains(forgery.verification), rejected.detail());
    assertEquals(1, letters.size());
    assertEquals(DeadLetterReason.BAD_SIGNATURE, letters.get(0).reason());
    assertEquals(victimId, letters.get(0).id());
    assertEquals(1.0, deadLetterCount("bad_signature"), "the rejection is counted");
    assertEquals(List.of(), storeWrites, "a rejected copy writes nothing to the store");
    assertTrue(store.get(victimId, 0).isEmpty(), "no record for the victim's id");
    assertEquals(0, runCount(victimId), "the forged payload never reaches the handler");

    // the real message, then its copy from the other region
    Outcome second = processor.process(message(real, realPayload), counting());
    Outcome third = processor.process(message(real, realPayload), counting());

    assertInstanceOf(Outcome.Processed.class, second);
    assertEquals(new Outcome.Skipped(victimId, Phase.COMPLETED), third);
    assertEquals(1, runCount(victimId), "the real message is processed exactly once");
    assertEquals(Phase.COMPLETED, store.get(victimId, 0).orElseThrow().phase());
    assertEquals(1, letters.size(), "nothing else was dead-lettered");
  }

  @Test
  void aCopySignedWithTheRetiringKeyIsStillAcceptedDuringRotation() {
    String id = TandemIds.newId();
    byte[] payload = "signed before the switch".getBytes(StandardCharsets.UTF_8);
    Envelope old = EnvelopeSigner.signingWith(PREVIOUS)
        .sign(Envelope.forPayload(id, payload, 0, System.currentTimeMillis()));
    assertInstanceOf(Outcome.Processed.class, processor.process(message(old, payload), counting()));
    assertEquals(1, runCount(id));
  }

  @Test
  void aSignedEnvelopeOverAnotherPayloadIsRejectedBeforeTheClaim() {
    // the attacker keeps a real signed envelope and swaps the body: the digest no longer matches
    String id = TandemIds.newId();
    byte[] payload = "real".getBytes(StandardCharsets.UTF_8);
    Envelope real = publisherSigner.sign(
        Envelope.forPayload(id, payload, 0, System.currentTimeMillis()));
    byte[] swapped = "swapped".getBytes(StandardCharsets.UTF_8);
    Outcome o = processor.process(message(real, swapped), counting());
    assertEquals(DeadLetterReason.DIGEST_MISMATCH,
        assertInstanceOf(Outcome.DeadLettered.class, o).reason());
    assertEquals(List.of(), storeWrites);
    assertEquals(1.0, deadLetterCount("digest_mismatch"));
    assertInstanceOf(Outcome.Processed.class, processor.process(message(real, payload), counting()));
    assertEquals(1, runCount(id));
  }

  @Test
  void aSignatureHeaderWithoutItsKeyIdIsMalformedAndWritesNothing() {
    String id = TandemIds.newId();
    byte[] payload = "x".getBytes(StandardCharsets.UTF_8);
    Map<String, String> headers = new HashMap<>();
    EnvelopeCodec.write(publisherSigner.sign(
        Envelope.forPayload(id, payload, 0, System.currentTimeMillis())), headers::put);
    headers.remove(TandemHeaders.KEY_ID);
    Outcome o = processor.process(IncomingMessage.of(headers::get, payload, 0, 1, null), counting());
    assertEquals(DeadLetterReason.MALFORMED_ENVELOPE,
        assertInstanceOf(Outcome.DeadLettered.class, o).reason());
    assertEquals(List.of(), storeWrites);
    assertTrue(store.get(id, 0).isEmpty());
  }

  @Test
  void leavingTheIdOutDoesNotBypassSignaturesEvenUnderPassThrough() {
    processor.close();
    processor = OnceProcessor.builder().store(store)
        .deadLetterSink(letter -> {
          letters.add(letter);
          return CompletableFuture.completedFuture(null);
        })
        .meterRegistry(registry)
        .missingIdPolicy(dev.tandem.consumer.MissingIdPolicy.PASS_THROUGH)
        .requireSignatures(EnvelopeSigner.verifyingWith(List.of(CURRENT)))
        .build();
    byte[] payload = "no id at all".getBytes(StandardCharsets.UTF_8);
    AtomicInteger handlerRuns = new AtomicInteger();
    Outcome o = processor.process(IncomingMessage.of(h -> null, payload, 0, 1, null),
        ctx -> handlerRuns.incrementAndGet());
    assertEquals(DeadLetterReason.BAD_SIGNATURE,
        assertInstanceOf(Outcome.DeadLettered.class, o).reason());
    assertEquals(0, handlerRuns.get(), "nothing unsigned reaches the handler");
    assertEquals(List.of(), storeWrites);
    assertEquals(1.0, deadLetterCount("bad_signature"));
  }

  @Test
  void rejectionsAreLoggedWithoutKeyMaterial() {
    java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
    java.io.PrintStream original = System.err;
    String id = TandemIds.newId();
    byte[] payload = "p".getBytes(StandardCharsets.UTF_8);
    System.setErr(new java.io.PrintStream(captured, true, StandardCharsets.UTF_8));
    try {
      processor.process(message(EnvelopeSigner.signingWith(ATTACKER)
          .sign(Envelope.forPayload(id, payload, 0, System.currentTimeMillis())), payload),
          counting());
    } finally {
      System.setErr(original);
    }
    String log = captured.toString(StandardCharsets.UTF_8);
    assertTrue(log.contains("BAD_SIGNATURE") && log.contains(id), "the rejection is logged: " + log);
    for (SigningKey k : List.of(CURRENT, PREVIOUS, ATTACKER)) {
      byte[] secret = secret(k == CURRENT ? 7 : k == PREVIOUS ? 9 : 66);
      for (String form : List.of(java.util.HexFormat.of().formatHex(secret),
          java.util.Base64.getEncoder().encodeToString(secret),
          java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(secret),
          Arrays.toString(secret))) {
        assertTrue(!log.contains(form), "secret of " + k.keyId() + " logged: " + log);
      }
    }
  }

  static IncomingMessage message(Envelope envelope, byte[] payload) {
    Map<String, String> headers = new HashMap<>();
    EnvelopeCodec.write(envelope, headers::put);
    return IncomingMessage.of(headers::get, payload, envelope.shard(), 1, null);
  }

  MessageHandler counting() {
    return ctx -> runs.computeIfAbsent(ctx.id(), k -> new AtomicInteger()).incrementAndGet();
  }

  int runCount(String id) {
    AtomicInteger n = runs.get(id);
    return n == null ? 0 : n.get();
  }

  double deadLetterCount(String reason) {
    return registry.find("tandem.consumer.dead.letters").counters().stream()
        .filter(c -> reason.equalsIgnoreCase(c.getId().getTag("reason")))
        .mapToDouble(c -> c.count()).sum();
  }

  static byte[] secret(int seed) {
    byte[] b = new byte[32];
    Arrays.fill(b, (byte) seed);
    return b;
  }
}
