package dev.tandem.publisher;

import dev.tandem.core.EnvelopeCodec;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The spool's byte format of one {@link OutboundMessage}: everything needed to replay the copy
 * exactly, envelope included (written with {@link EnvelopeCodec}, so the replayed copy carries the
 * original id, digest, shard, publish time and signature). Decoding re-checks the digest against the
 * value, so a corrupted record is detected, never replayed.
 *
 * <p>Format (version 1, DataOutput): version byte, destination (UTF), shard (int), timestamp (long),
 * key and value (int length, -1 for null, then bytes), headers (count, then name UTF + bytes),
 * attributes (count, then UTF pairs), envelope fields (count, then UTF pairs).
 */
final class SpoolRecordCodec {

  static final byte VERSION = 1;

  private SpoolRecordCodec() {}

  static byte[] encode(OutboundMessage m) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(m.approximateSize());
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeByte(VERSION);
      out.writeUTF(m.destination());
      out.writeInt(m.shard());
      out.writeLong(m.timestamp());
      writeBytes(out, m.keyUnsafe());
      writeBytes(out, m.valueUnsafe());
      out.writeInt(m.headers().size());
      for (MessageHeader h : m.headers()) {
        out.writeUTF(h.name());
        writeBytes(out, h.valueUnsafe());
      }
      out.writeInt(m.attributes().size());
      for (Map.Entry<String, String> e : m.attributes().entrySet()) {
        out.writeUTF(e.getKey());
        out.writeUTF(e.getValue());
      }
      Map<String, String> env = new LinkedHashMap<>();
      EnvelopeCodec.write(m.envelope(), env::put);
      out.writeInt(env.size());
      for (Map.Entry<String, String> e : env.entrySet()) {
        out.writeUTF(e.getKey());
        out.writeUTF(e.getValue());
      }
    } catch (java.io.UTFDataFormatException e) {
      // a name or value over the format's 65,535 UTF-8 bytes per string (Kafka itself accepts it)
      throw new IllegalArgumentException("the message " + m.id() + " cannot be written to the spool: a"
          + " destination, header name, attribute or envelope field is over 65,535 UTF-8 bytes (" + e.getMessage()
          + ")", e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot happen writing to memory", e);
    }
    return bytes.toByteArray();
  }

  /**
   * Decodes a spooled record.
   *
   * @throws IllegalArgumentException if the bytes are not a valid record (truncated, unknown version,
   *     bad envelope, digest mismatch)
   */
  static OutboundMessage decode(byte[] record) {
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(record))) {
      byte version = in.readByte();
      if (version != VERSION) {
        throw new IllegalArgumentException("unknown spool record version " + version);
      }
      String destination = in.readUTF();
      int shard = in.readInt();
      OutboundMessage.Builder b = OutboundMessage.builder(destination, shard);
      b.timestamp(in.readLong());
      b.key(readBytes(in));
      b.value(readBytes(in));
      int headers = count(in);
      for (int i = 0; i < headers; i++) {
        b.header(in.readUTF(), readBytes(in));
      }
      int attributes = count(in);
      for (int i = 0; i < attributes; i++) {
        b.attribute(in.readUTF(), in.readUTF());
      }
      int fields = count(in);
      Map<String, String> env = new HashMap<>();
      for (int i = 0; i < fields; i++) {
        env.put(in.readUTF(), in.readUTF());
      }
      if (in.available() != 0) {
        throw new IllegalArgumentException("spool record has " + in.available() + " trailing bytes");
      }
      return b.envelope(EnvelopeCodec.read(env::get)).build();
    } catch (IOException e) {
      throw new IllegalArgumentException("truncated spool record: " + e, e);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("corrupt spool record: " + e.getMessage(), e);
    }
  }

  private static int count(DataInputStream in) throws IOException {
    int n = in.readInt();
    if (n < 0 || n > 100_000) {
      throw new IllegalArgumentException("implausible count " + n + " in spool record");
    }
    return n;
  }

  private static void writeBytes(DataOutputStream out, byte[] b) throws IOException {
    if (b == null) {
      out.writeInt(-1);
    } else {
      out.writeInt(b.length);
      out.write(b);
    }
  }

  private static byte[] readBytes(DataInputStream in) throws IOException {
    int n = in.readInt();
    if (n == -1) {
      return null;
    }
    if (n < -1 || n > in.available()) {
      throw new IllegalArgumentException("byte field length " + n + " exceeds the record");
    }
    return in.readNBytes(n);
  }
}
