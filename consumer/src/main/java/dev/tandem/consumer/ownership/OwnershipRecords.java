package dev.tandem.consumer.ownership;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.Properties;

/** The text encoding of {@link OwnershipRequest} and {@link OwnershipResult} values. */
final class OwnershipRecords {

  private OwnershipRecords() {}

  /**
   * Decodes a value of the request topic: an {@link OwnershipRequest} or an {@link OwnershipResult}.
   *
   * @throws IllegalArgumentException for anything else
   */
  static Object decode(String value) {
    String kind = props(value).getProperty("kind", "");
    return switch (kind) {
      case OwnershipRequest.KIND -> OwnershipRequest.decode(value);
      case OwnershipResult.KIND -> OwnershipResult.decode(value);
      default -> throw new IllegalArgumentException("unknown ownership record kind '" + kind + "'");
    };
  }

  static String text(Properties p) {
    StringWriter w = new StringWriter();
    try {
      p.store(w, null);
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a StringWriter does no I/O
    }
    // drop the date comment Properties.store writes: equal records encode equally
    StringBuilder out = new StringBuilder();
    for (String line : w.toString().split("\n")) {
      if (!line.startsWith("#")) {
        out.append(line).append('\n');
      }
    }
    return out.toString();
  }

  static Properties props(String value) {
    Properties p = new Properties();
    try {
      p.load(new StringReader(value == null ? "" : value));
    } catch (IOException | IllegalArgumentException e) {
      throw new IllegalArgumentException("not an ownership record: " + e.getMessage(), e);
    }
    return p;
  }

  static String required(Properties p, String key) {
    String v = p.getProperty(key);
    if (v == null || v.isBlank()) {
      throw new IllegalArgumentException("ownership record without " + key);
    }
    return v.trim();
  }
}
