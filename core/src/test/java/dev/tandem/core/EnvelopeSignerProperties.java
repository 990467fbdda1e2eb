package dev.tandem.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

class EnvelopeSignerProperties {

  private static final SigningKey OLD = SigningKey.of("old", filled(1));
  private static final SigningKey NEW = SigningKey.of("new", filled(2));
  private static final EnvelopeSigner SIGNER = EnvelopeSigner.signingWith(NEW, OLD);

  @Property(tries = 500)
  void verifyOfSignHolds(@ForAll("envelopes") Envelope e) {
    assertEquals(EnvelopeSigner.Verification.VALID, SIGNER.verify(SIGNER.sign(e)));
    // rotation: a verifier that accepts both keys takes envelopes signed by the old one
    Envelope byOld = EnvelopeSigner.signingWith(OLD).sign(e);
    assertEquals(EnvelopeSigner.Verification.VALID, SIGNER.verify(byOld));
    assertEquals(EnvelopeSigner.Verification.UNSIGNED, SIGNER.verify(e));
    assertEquals(
        EnvelopeSigner.Verification.UNKNOWN_KEY,
        EnvelopeSigner.verifyingWith(List.of(OLD)).verify(SIGNER.sign(e)));
  }

  @Property(tries = 1000)
  void anySingleBitFlipOfASignedFieldFails(
      @ForAll("envelopes") Envelope e, @ForAll @IntRange(min = 0, max = 4) int field, @ForAll @IntRange(min = 0, max = 1023) int bit) {
    Envelope signed = SIGNER.sign(e);
    byte[] sig = signed.signature().orElseThrow();
    Envelope tampered;
    switch (field) {
      case 0 -> {
        byte[] d = e.digest().toBytes();
        d[(bit / 8) % d.length] ^= (byte) (1 << (bit % 8));
        tampered = Envelope.of(e.id(), PayloadDigest.fromBytes(d), e.shard(), e.publishedAt());
      }
      case 1 -> tampered = e.withShard(e.shard() ^ (1 << (bit % 31)));
      case 2 -> tampered = Envelope.of(e.id(), e.digest(), e.shard(), e.publishedAt() ^ (1L << (bit % 63)));
      case 3 -> {
        char[] id = e.id().toCharArray();
        int i = (bit / 7) % id.length;
        id[i] = (char) (id[i] ^ (1 << (bit % 6)));
        String s = new String(id);
        if (s.chars().anyMatch(Character::isISOControl)) {
          return; // not a valid id: the codec refuses it before any verification
        }
        tampered = Envelope.of(s, e.digest(), e.shard(), e.publishedAt());
      }
      default -> {
        sig[(bit / 8) % sig.length] ^= (byte) (1 << (bit % 8));
        tampered = e;
      }
    }
    assertFalse(tampered.equals(e) && field != 4, "the flip must change the field");
    assertEquals(
        EnvelopeSigner.Verification.BAD_SIGNATURE,
        SIGNER.verify(tampered.withSignature(NEW.keyId(), sig)));
  }

  @Property(tries = 200)
  void keyIdIsSignedToo(@ForAll("envelopes") Envelope e) {
    SigningKey sameSecretOtherId = SigningKey.of("new2", filled(2));
    Envelope signed = SIGNER.sign(e);
    Envelope relabelled = signed.withSignature("new2", signed.signature().orElseThrow());
    assertEquals(
        EnvelopeSigner.Verification.BAD_SIGNATURE,
        EnvelopeSigner.verifyingWith(List.of(sameSecretOtherId)).verify(relabelled));
  }

  @Provide
  Arbitrary<Envelope> envelopes() {
    return Combinators.combine(
            Arbitraries.strings().withCharRange('!', '~').ofMinLength(1).ofMaxLength(128),
            Arbitraries.bytes().array(byte[].class).ofMaxSize(64),
            Arbitraries.integers().between(0, Integer.MAX_VALUE),
            Arbitraries.longs().between(0, Long.MAX_VALUE))
        .as(Envelope::forPayload);
  }

  private static byte[] filled(int v) {
    byte[] b = new byte[32];
    java.util.Arrays.fill(b, (byte) v);
    return b;
  }
}
