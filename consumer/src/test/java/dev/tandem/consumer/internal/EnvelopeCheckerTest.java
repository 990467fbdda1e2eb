package dev.tandem.consumer.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.DeadLetterReason;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.MissingIdPolicy;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.SigningKey;
import dev.tandem.core.TandemHeaders;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link EnvelopeChecker}: each kind of copy gets its {@link EnvelopeCheck}, no store involved. */
class EnvelopeCheckerTest {

  static final byte[] PAYLOAD = "order-1".getBytes(StandardCharsets.UTF_8);
  static final SigningKey KEY = SigningKey.of("k1", filled(7));

  static byte[] filled(int seed) {
    byte[] b = new byte[32];
    Arrays.fill(b, (byte) seed);
    return b;
  }

  static Map<String, String> headersOf(Envelope e) {
    Map<String, String> h = new HashMap<>();
    EnvelopeCodec.write(e, h::put);
    return h;
  }

  static IncomingMessage copy(Map<String, String> headers, byte[] payload, int shard) {
    return IncomingMessage.of(headers::get, payload, shard, 1, null);
  }

  final EnvelopeChecker reject = new EnvelopeChecker(MissingIdPolicy.REJECT, null);

  @Test
  void validEnvelopeIsValidAndNotDerived() {
    Envelope e = Envelope.forPayload("id-1", PAYLOAD, 2, 1_000L);
    EnvelopeCheck c = reject.check(copy(headersOf(e), PAYLOAD, 2));
    EnvelopeCheck.Valid v = assertInstanceOf(EnvelopeCheck.Valid.class, c);
    assertEquals("id-1", v.envelope().id());
    assertFalse(v.derived());
  }

  @Test
  void missingIdFollowsThePolicy() {
    IncomingMessage noId = copy(Map.of(), PAYLOAD, 1);
    EnvelopeCheck.Reject r = assertInstanceOf(EnvelopeCheck.Reject.class, reject.check(noId));
    assertEquals(DeadLetterReason.MISSING_ID, r.reason());
    assertNull(r.id());

    assertInstanceOf(EnvelopeCheck.PassThrough.class,
        new EnvelopeChecker(MissingIdPolicy.PASS_THROUGH, null).check(noId));

    EnvelopeCheck.Valid d = assertInstanceOf(EnvelopeCheck.Valid.class,
        new EnvelopeChecker(MissingIdPolicy.DERIVE_FROM_PAYLOAD, null).check(noId));
    assertTrue(d.derived());
    assertEquals(EnvelopeChecker.DERIVED_ID_PREFIX + PayloadDigest.of(PAYLOAD).toHex(),
        d.envelope().id());
    assertEquals(1, d.envelope().shard());
  }

  @Test
  void passThroughWithSignaturesRequiredIsABadSignature() {
    EnvelopeChecker signed = new EnvelopeChecker(MissingIdPolicy.PASS_THROUGH,
        EnvelopeSigner.verifyingWith(List.of(KEY)));
    EnvelopeCheck.Reject r = assertInstanceOf(EnvelopeCheck.Reject.class,
        signed.check(copy(Map.of(), PAYLOAD, 0)));
    assertEquals(DeadLetterReason.BAD_SIGNATURE, r.reason());
  }

  @Test
  void malformedHeadersAreMalformedEnvelopesWithTheIdWhenItIsSafe() {
    Map<String, String> h = headersOf(Envelope.forPayload("id-2", PAYLOAD, 0, 1_000L));
    h.put(TandemHeaders.DIGEST, "not-hex");
    EnvelopeCheck.Reject r = assertInstanceOf(EnvelopeCheck.Reject.class,
        reject.check(copy(h, PAYLOAD, 0)));
    assertEquals(DeadLetterReason.MALFORMED_ENVELOPE, r.reason());
    assertEquals("id-2", r.id());

    Map<String, String> shardless = headersOf(Envelope.forPayload("id-3", PAYLOAD, 0, 1_000L));
    shardless.put(TandemHeaders.SHARD, "minus-one");
    assertEquals(DeadLetterReason.MALFORMED_ENVELOPE, assertInstanceOf(EnvelopeCheck.Reject.class,
        reject.check(copy(shardless, PAYLOAD, 0))).reason());

    Map<String, String> longId = new HashMap<>(h);
    longId.put(TandemHeaders.ID, "x".repeat(TandemHeaders.MAX_ID_LENGTH + 1));
    EnvelopeCheck.Reject tooLong = assertInstanceOf(EnvelopeCheck.Reject.class,
        reject.check(copy(longId, PAYLOAD, 0)));
    assertEquals(DeadLetterReason.MALFORMED_ENVELOPE, tooLong.reason());
    assertNull(tooLong.id(), "an id too long to log is not carried");
  }

  @Test
  void payloadNotMatchingItsDigestIsADigestMismatch() {
    Map<String, String> h = headersOf(Envelope.forPayload("id-4", PAYLOAD, 0, 1_000L));
    EnvelopeCheck.Reject r = assertInstanceOf(EnvelopeCheck.Reject.class,
        reject.check(copy(h, "tampered".getBytes(StandardCharsets.UTF_8), 0)));
    assertEquals(DeadLetterReason.DIGEST_MISMATCH, r.reason());
    assertEquals("id-4", r.id());
  }

  @Test
  void copyOnAnotherShardThanItsEnvelopeIsMalformed() {
    Map<String, String> h = headersOf(Envelope.forPayload("id-5", PAYLOAD, 3, 1_000L));
    EnvelopeCheck.Reject r = assertInstanceOf(EnvelopeCheck.Reject.class,
        reject.check(copy(h, PAYLOAD, 4)));
    assertEquals(DeadLetterReason.MALFORMED_ENVELOPE, r.reason());
    assertTrue(r.detail().contains("partition count"), r.detail());
  }

  @Test
  void signaturesAreCheckedWhenRequired() {
    EnvelopeChecker signed = new EnvelopeChecker(MissingIdPolicy.REJECT,
        EnvelopeSigner.verifyingWith(List.of(KEY)));
    Envelope e = Envelope.forPayload("id-6", PAYLOAD, 0, 1_000L);
    assertEquals(DeadLetterReason.BAD_SIGNATURE, assertInstanceOf(EnvelopeCheck.Reject.class,
        signed.check(copy(headersOf(e), PAYLOAD, 0))).reason(), "unsigned");
    Envelope forged = EnvelopeSigner.signingWith(SigningKey.of("k1", filled(66))).sign(e);
    assertEquals(DeadLetterReason.BAD_SIGNATURE, assertInstanceOf(EnvelopeCheck.Reject.class,
        signed.check(copy(headersOf(forged), PAYLOAD, 0))).reason(), "wrong secret");
    Envelope good = EnvelopeSigner.signingWith(KEY).sign(e);
    assertInstanceOf(EnvelopeCheck.Valid.class, signed.check(copy(headersOf(good), PAYLOAD, 0)));
  }
}
