package dev.tandem.consumer.internal;

import dev.tandem.consumer.DeadLetterReason;
import dev.tandem.consumer.IncomingMessage;
import dev.tandem.consumer.MissingIdPolicy;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.EnvelopeException;
import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.TandemHeaders;
import java.util.Objects;

/**
 * Reads and checks the envelope of a received copy, without any store access: the missing-id policy,
 * the envelope's syntax, the payload digest (on every path, including the one that writes first), the
 * signature when signatures are required, and that the envelope's shard is the one the copy arrived
 * on. Pure: the same copy always gets the same {@link EnvelopeCheck}.
 */
public final class EnvelopeChecker {

  /** Prefix of ids derived under {@link MissingIdPolicy#DERIVE_FROM_PAYLOAD}. */
  public static final String DERIVED_ID_PREFIX = "sha256:";

  private final MissingIdPolicy missingIdPolicy;
  private final EnvelopeSigner signer;

  /**
   * @param signer the keys signatures are checked with, or null when signatures are not required
   */
  public EnvelopeChecker(MissingIdPolicy missingIdPolicy, EnvelopeSigner signer) {
    this.missingIdPolicy = Objects.requireNonNull(missingIdPolicy, "missingIdPolicy");
    this.signer = signer;
  }

  /** Checks {@code m}. */
  public EnvelopeCheck check(IncomingMessage m) {
    Envelope env;
    boolean derived = false;
    try {
      if (!EnvelopeCodec.hasId(m::header)) {
        switch (missingIdPolicy) {
          case PASS_THROUGH:
            if (signer != null) {
              // with signatures required nothing unsigned reaches the handler, or anyone who can
              // write to the queue could bypass them by leaving the id out
              return new EnvelopeCheck.Reject(m, null, DeadLetterReason.BAD_SIGNATURE,
                  "message on shard " + m.shard() + " has no tandem-id and signatures are required");
            }
            return new EnvelopeCheck.PassThrough(m);
          case DERIVE_FROM_PAYLOAD:
            PayloadDigest d = PayloadDigest.of(m.payload());
            env = Envelope.of(DERIVED_ID_PREFIX + d.toHex(), d, m.shard(), 0L);
            derived = true;
            break;
          case REJECT:
          default:
            return new EnvelopeCheck.Reject(m, null, DeadLetterReason.MISSING_ID,
                "message on shard " + m.shard() + " has no tandem-id header (missingId=REJECT)");
        }
      } else {
        env = EnvelopeCodec.read(m::header);
      }
    } catch (EnvelopeException e) {
      return new EnvelopeCheck.Reject(m, safeId(m), DeadLetterReason.MALFORMED_ENVELOPE,
          e.reason() + " " + e.header() + ": " + e.getMessage());
    }
    // the digest is checked on every path, including the one that writes first
    if (!env.digest().matches(m.payload())) {
      return new EnvelopeCheck.Reject(m, env.id(), DeadLetterReason.DIGEST_MISMATCH,
          "payload of " + env.id() + " does not hash to its tandem-digest " + env.digest());
    }
    if (signer != null) {
      EnvelopeSigner.Verification v = signer.verify(env);
      if (v != EnvelopeSigner.Verification.VALID) {
        return new EnvelopeCheck.Reject(m, env.id(), DeadLetterReason.BAD_SIGNATURE,
            "signature of " + env.id() + " is " + v);
      }
    }
    if (env.shard() != m.shard()) {
      // the publisher computes the shard once for every region; a copy on another partition means
      // the topics differ in partition count, and the store would key it under another shard
      return new EnvelopeCheck.Reject(m, env.id(), DeadLetterReason.MALFORMED_ENVELOPE,
          "tandem-shard " + env.shard() + " of " + env.id() + " differs from the shard it arrived on, "
              + m.shard() + " (do both regions' topics have the same partition count?)");
    }
    return new EnvelopeCheck.Valid(m, env, derived);
  }

  /** The copy's {@code tandem-id} header if present and of a sane length (for logs), else null. */
  public static String safeId(IncomingMessage m) {
    String id = m.header(TandemHeaders.ID);
    return id != null && id.length() <= TandemHeaders.MAX_ID_LENGTH ? id : null;
  }
}
