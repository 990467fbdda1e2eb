package dev.tandem.benchmarks;

import dev.tandem.core.EnvelopeSigner;
import dev.tandem.core.Envelope;
import dev.tandem.core.PayloadDigest;
import dev.tandem.core.SigningKey;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The per-message CPU cost the envelope adds on the publish path: SHA-256 of the payload (the JDK's,
 * with the CPU's SHA extensions where present) and the optional HMAC. Reported as ns per operation;
 * divide by the payload size in KiB for the cost per KiB.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class DigestBenchmark {

  @Param({"100", "1024", "16384"})
  public int payloadBytes;

  private byte[] payload;
  private Envelope envelope;
  private EnvelopeSigner signer;

  @Setup
  public void setUp() {
    payload = new byte[payloadBytes];
    new SplittableRandom(7).nextBytes(payload);
    envelope = Envelope.forPayload("0193a3c4-7b2e-7a11-9c1d-5e6f7a8b9c0d", payload, 3, 1_700_000_000_000L);
    signer = EnvelopeSigner.signingWith(SigningKey.of("k1", new byte[32]));
  }

  /** SHA-256 of the payload: what every publish pays. */
  @Benchmark
  public PayloadDigest sha256() {
    return PayloadDigest.of(payload);
  }

  /** HMAC over the envelope fields (not the payload): what a signed publish adds on top. */
  @Benchmark
  public Envelope hmacSign() {
    return signer.sign(envelope);
  }
}
