package dev.tandem.azure.servicebus;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Date;
import java.util.UUID;

/**
 * Encodes a Service Bus application property value as a string tagged with its type, so that a copy
 * kept in the publisher's spool (which stores strings) is replayed with the very same typed value.
 * The types are exactly those the Service Bus SDK's AMQP encoding accepts in application properties
 * (its {@code ServiceBusMessageSerializer} maps OffsetDateTime, Duration and URI to described types;
 * proton-j encodes the others) and Tandem can replay unchanged; anything else is refused with the
 * property's name, before anything is sent. The SDK itself refuses {@code Instant}, {@code
 * LocalDate}, {@code BigDecimal} ("No encoding is known for map entry value of type ...") and {@code
 * byte[]} (a ClassCastException): accepting them here made every region refuse the copy at send time,
 * and a copy spooled that way blocked its region's replay.
 *
 * <p>Format: one type letter, ':', the value.
 */
final class ApplicationPropertyCodec {

  private ApplicationPropertyCodec() {}

  static String encode(String name, Object value) {
    if (value == null) {
      return "n:";
    } else if (value instanceof String s) {
      return "s:" + s;
    } else if (value instanceof Boolean v) {
      return "z:" + v;
    } else if (value instanceof Byte v) {
      return "b:" + v;
    } else if (value instanceof Short v) {
      return "h:" + v;
    } else if (value instanceof Integer v) {
      return "i:" + v;
    } else if (value instanceof Long v) {
      return "j:" + v;
    } else if (value instanceof Float v) {
      return "f:" + Float.floatToIntBits(v);
    } else if (value instanceof Double v) {
      return "d:" + Double.doubleToLongBits(v);
    } else if (value instanceof Character v) {
      return "c:" + v;
    } else if (value instanceof UUID v) {
      return "u:" + v;
    } else if (value instanceof OffsetDateTime v) {
      return "t:" + v;
    } else if (value instanceof Date v) {
      return "D:" + v.getTime();
    } else if (value instanceof Duration v) {
      return "T:" + v;
    } else if (value instanceof URI v) {
      return "r:" + v;
    }
    String hint = value instanceof Instant
        ? " (use an OffsetDateTime, e.g. instant.atOffset(ZoneOffset.UTC))"
        : value instanceof byte[] ? " (encode the bytes as a String, e.g. Base64)" : "";
    throw new IllegalArgumentException("application property '" + name + "' has a value of type "
        + value.getClass().getName() + ", which the Service Bus SDK cannot encode as an AMQP "
        + "application property" + hint + "; supported: String, Boolean, Byte, Short, Integer, "
        + "Long, Float, Double, Character, UUID, OffsetDateTime, Date, Duration, URI, null");
  }

  static Object decode(String name, String encoded) {
    if (encoded.length() < 2 || encoded.charAt(1) != ':') {
      throw new IllegalArgumentException("application property '" + name + "' is not encoded by "
          + ApplicationPropertyCodec.class.getSimpleName());
    }
    String v = encoded.substring(2);
    return switch (encoded.charAt(0)) {
      case 'n' -> null;
      case 's' -> v;
      case 'z' -> Boolean.valueOf(v);
      case 'b' -> Byte.valueOf(v);
      case 'h' -> Short.valueOf(v);
      case 'i' -> Integer.valueOf(v);
      case 'j' -> Long.valueOf(v);
      case 'f' -> Float.intBitsToFloat(Integer.parseInt(v));
      case 'd' -> Double.longBitsToDouble(Long.parseLong(v));
      case 'c' -> v.charAt(0);
      case 'u' -> UUID.fromString(v);
      case 't' -> OffsetDateTime.parse(v);
      // Spooled by an earlier version, which accepted Instant: the SDK cannot encode an Instant, so
      // the same instant is replayed as the type the SDK encodes as an AMQP timestamp.
      case 'I' -> Instant.parse(v).atOffset(ZoneOffset.UTC);
      case 'D' -> new Date(Long.parseLong(v));
      case 'T' -> Duration.parse(v);
      case 'r' -> URI.create(v);
      // Spooled by an earlier version. The SDK cannot send a byte[] property (ClassCastException,
      // which on the schedule path it wraps as a GENERAL_ERROR ServiceBusException), so decoding
      // refuses it: the sink rejects the copy before queueing it (logged, counted, removed from the
      // spool) rather than letting the region's replay retry it forever.
      case 'x' -> throw new IllegalArgumentException("application property '" + name
          + "' holds a byte[] (spooled by an earlier version), which the Service Bus SDK cannot "
          + "encode as an AMQP application property");
      default -> throw new IllegalArgumentException("application property '" + name
          + "' has an unknown type tag '" + encoded.charAt(0) + "'");
    };
  }
}
