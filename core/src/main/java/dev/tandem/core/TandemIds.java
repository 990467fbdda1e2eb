package dev.tandem.core;

import java.security.SecureRandom;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Idempotency ids: time-ordered UUIDv7 (RFC 9562) by default, or a key the caller supplies. Every id
 * is at most {@link TandemHeaders#MAX_ID_LENGTH} characters (the Service Bus {@code MessageId}
 * limit) and holds no control characters.
 */
public final class TandemIds {

  private static final SecureRandom RANDOM = new SecureRandom();
  /**
   * Random bits for the ids, drawn from {@link #RANDOM} {@value #RANDOM_LONGS} longs at a time per
   * thread: one {@code SecureRandom} call (NativePRNG: a global lock, a read of /dev/urandom mixed
   * with SHA1PRNG output) per 16 ids instead of per id. It was 4 of the 17 caller-thread samples of a
   * Tandem publish (benchmarks/profiles/publisher-*.txt). The bits are the same CSPRNG output, used
   * once each, and never leave the thread that drew them.
   */
  private static final int RANDOM_LONGS = 16;

  private static final ThreadLocal<RandomBuffer> BUFFER = ThreadLocal.withInitial(RandomBuffer::new);

  private static final class RandomBuffer {
    private final byte[] bytes = new byte[RANDOM_LONGS * Long.BYTES];
    private int next = RANDOM_LONGS; // empty: filled on first use

    long nextLong() {
      if (next == RANDOM_LONGS) {
        RANDOM.nextBytes(bytes);
        next = 0;
      }
      int at = next++ * Long.BYTES;
      long v = 0;
      for (int i = 0; i < Long.BYTES; i++) {
        v = (v << 8) | (bytes[at + i] & 0xFF);
        bytes[at + i] = 0; // used once
      }
      return v;
    }
  }
  /** Last (millis << 12 | counter) handed out, so ids from one JVM are strictly increasing. */
  private static final AtomicLong LAST = new AtomicLong();

  private TandemIds() {}

  /** A new UUIDv7 string: 48 bits of epoch millis, a 12-bit in-millisecond counter, 62 random bits. */
  public static String newId() {
    return uuidV7(System.currentTimeMillis()).toString();
  }

  /**
   * A UUIDv7 for the given wall-clock time. Within one JVM successive values are strictly increasing
   * even when the clock stands still or steps back (the counter carries into the millisecond).
   */
  public static UUID uuidV7(long epochMillis) {
    long stamp;
    while (true) {
      long last = LAST.get();
      long candidate = Math.max(epochMillis << 12, last + 1);
      if (LAST.compareAndSet(last, candidate)) {
        stamp = candidate;
        break;
      }
    }
    long millis = stamp >>> 12;
    long counter = stamp & 0xFFF;
    long msb = (millis << 16) | 0x7000L | counter;
    long lsb = (BUFFER.get().nextLong() & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L;
    return new UUID(msb, lsb);
  }

  /**
   * Checks a caller-supplied id (a business key) and returns it.
   *
   * @throws IllegalArgumentException if it is null, empty, longer than 128 characters, or holds a
   *     control character
   */
  public static String validate(String id) {
    if (id == null || id.isEmpty()) {
      throw new IllegalArgumentException("a Tandem id must not be null or empty");
    }
    if (id.length() > TandemHeaders.MAX_ID_LENGTH) {
      throw new IllegalArgumentException(
          "a Tandem id is at most " + TandemHeaders.MAX_ID_LENGTH
              + " characters (the Service Bus MessageId limit); got " + id.length()
              + " characters starting " + printable(id.substring(0, 32)));
    }
    for (int i = 0; i < id.length(); i++) {
      if (Character.isISOControl(id.charAt(i))) {
        throw new IllegalArgumentException(
            "a Tandem id must not hold control characters (index " + i + ")");
      }
    }
    return id;
  }

  private static String printable(String s) {
    return "'" + s.replaceAll("\\p{Cntrl}", "?") + "...'";
  }
}
