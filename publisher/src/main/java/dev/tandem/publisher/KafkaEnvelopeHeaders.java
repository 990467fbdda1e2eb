package dev.tandem.publisher;

import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.EnvelopeException;
import dev.tandem.core.TandemHeaders;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * Reads and writes the Tandem {@link Envelope} in Kafka record headers (values are UTF-8), through
 * the one {@link EnvelopeCodec}. The consumer side reads envelopes with {@link #read}.
 */
public final class KafkaEnvelopeHeaders {

  private KafkaEnvelopeHeaders() {}

  /** Replaces any {@code tandem-*} envelope header in {@code headers} with {@code envelope}'s fields. */
  public static void write(Envelope envelope, Headers headers) {
    if (anyEnvelopeHeader(headers)) {
      remove(headers);
    }
    EnvelopeCodec.writeUtf8(envelope, headers::add);
  }

  /**
   * Whether any header is an envelope one; one pass ({@code toArray} of empty headers allocates
   * nothing), where six {@code remove} calls cost six iterators on every record even when there is
   * nothing to remove — the common case of a fresh record.
   */
  private static boolean anyEnvelopeHeader(Headers headers) {
    for (Header h : headers.toArray()) {
      String k = h.key();
      if (k != null && k.startsWith("tandem-")) {
        return true;
      }
    }
    return false;
  }

  /**
   * Reads the envelope of a record.
   *
   * @throws EnvelopeException when a header is missing, malformed or oversized (reason inside)
   */
  public static Envelope read(Headers headers) {
    return EnvelopeCodec.read(name -> lastValue(headers, name));
  }

  /** Whether the record carries a {@code tandem-id} header at all. */
  public static boolean hasEnvelope(Headers headers) {
    return headers.lastHeader(TandemHeaders.ID) != null;
  }

  /** The {@code tandem-id} of a record, or null if it has none. */
  public static String id(Headers headers) {
    return lastValue(headers, TandemHeaders.ID);
  }

  /** Removes every envelope header. */
  public static void remove(Headers headers) {
    headers.remove(TandemHeaders.ID);
    headers.remove(TandemHeaders.DIGEST);
    headers.remove(TandemHeaders.SHARD);
    headers.remove(TandemHeaders.PUBLISHED_AT);
    headers.remove(TandemHeaders.SIG);
    headers.remove(TandemHeaders.KEY_ID);
  }

  private static String lastValue(Headers headers, String name) {
    Header h = headers.lastHeader(name);
    if (h == null) {
      return null;
    }
    if (h.value() == null) {
      throw new EnvelopeException(
          EnvelopeException.Reason.MALFORMED_HEADER, name, "header " + name + " has no value");
    }
    return new String(h.value(), StandardCharsets.UTF_8);
  }
}
