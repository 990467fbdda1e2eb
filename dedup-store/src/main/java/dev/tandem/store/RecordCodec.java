package dev.tandem.store;

import dev.tandem.core.PayloadDigest;
import dev.tandem.core.RegionId;
import dev.tandem.store.internal.SmallSortedSet;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.zip.CRC32C;

/**
 * The binary form of an {@link IdRecord} and a {@link ShardLease}: what RocksDB stores and what the
 * replication changelog carries. Layout (big-endian):
 *
 * <pre>
 * record: u8 version=1, u8 kind=1, str id, i32 shard, i64 generation, u8 phase, i32 attempt,
 *         i64 epoch, str region, str instance, i64 leaseMillis, i64 hlc, i64 writtenAtMillis,
 *         i32 n, n × 32-byte digest, i32 m, m × (str region, str instance, i32 attempt),
 *         i32 resultLength (-1 = none), bytes, i32 reasonLength (-1 = none), UTF-8 bytes,
 *         i32 CRC32C of everything before it
 * lease:  u8 version=1, u8 kind=2, i32 shard, i64 epoch, str region, i64 heartbeatHlc, i64 position,
 *         i32 window, i64 unacked, u8 peerReachable, i32 k, k × (str key, str value), i32 CRC32C
 * str:    u16 length, UTF-8 bytes
 * </pre>
 *
 * Decoding checks the version, the kind, the checksum, every length and every value's range (through
 * the types' own constructors); anything else is a {@link CorruptRecordException}, never a half-read
 * record. A new layout gets a new version byte; readers keep decoding the old ones.
 */
public final class RecordCodec {

  /** The layout version written by this class. */
  public static final byte VERSION = 1;

  private static final byte KIND_RECORD = 1;
  private static final byte KIND_LEASE = 2;
  private static final Phase[] PHASES = Phase.values();

  private RecordCodec() {}

  /**
   * The bytes of {@code record}. Sized exactly up front and written into one array (the CRC32C over
   * its body is appended in place): no stream, no intermediate copy. Strings are measured and
   * written without encoding them to a byte array first when they are ASCII (ids, region and
   * instance names almost always are), the result is read without its defensive copy, and the
   * digests are written from their own arrays (issue 20: claim+complete encodes two records).
   */
  public static byte[] encode(IdRecord record) {
    String id = record.id();
    String region = record.owner().region().name();
    String instance = record.owner().instance();
    int size = 2 + strSize(id) + 4 + 8 + 1 + 4 + 8 + strSize(region) + strSize(instance)
        + 8 + 8 + 8 + 4 + record.digests().size() * PayloadDigest.LENGTH + 4;
    // the sets by index (IdRecord holds them as SmallSortedSet): no iterator objects
    SmallSortedSet<PayloadDigest> digests = (SmallSortedSet<PayloadDigest>) record.digests();
    SmallSortedSet<Completer> completers = (SmallSortedSet<Completer>) record.completers();
    for (int i = 0; i < completers.size(); i++) {
      Completer c = completers.get(i);
      size += strSize(c.region().name()) + strSize(c.instance()) + 4;
    }
    byte[] result = record.resultBytes();
    String reasonText = record.reason();
    byte[] reason = reasonText == null ? null : reasonText.getBytes(StandardCharsets.UTF_8);
    size += 4 + (result == null ? 0 : result.length) + 4 + (reason == null ? 0 : reason.length) + 4;

    ByteBuffer d = ByteBuffer.allocate(size); // big-endian, as the layout says
    d.put(VERSION);
    d.put(KIND_RECORD);
    putStr(d, id);
    d.putInt(record.shard());
    d.putLong(record.generation());
    d.put((byte) record.phase().ordinal());
    d.putInt(record.attempt());
    d.putLong(record.epoch());
    putStr(d, region);
    putStr(d, instance);
    d.putLong(record.leaseMillis());
    d.putLong(record.hlc());
    d.putLong(record.writtenAtMillis());
    d.putInt(digests.size());
    for (int i = 0; i < digests.size(); i++) {
      digests.get(i).writeTo(d);
    }
    d.putInt(completers.size());
    for (int i = 0; i < completers.size(); i++) {
      Completer c = completers.get(i);
      putStr(d, c.region().name());
      putStr(d, c.instance());
      d.putInt(c.attempt());
    }
    d.putInt(result == null ? -1 : result.length);
    if (result != null) {
      d.put(result);
    }
    d.putInt(reason == null ? -1 : reason.length);
    if (reason != null) {
      d.put(reason);
    }
    CRC32C crc = new CRC32C();
    crc.update(d.array(), 0, d.position());
    d.putInt((int) crc.getValue());
    return d.array();
  }

  /** Bytes of a {@code str} field (u16 length + UTF-8), computed without encoding an ASCII string. */
  private static int strSize(String s) {
    int n = s.length();
    for (int i = 0; i < n; i++) {
      if (s.charAt(i) >= 0x80) {
        return 2 + strBytes(s).length;
      }
    }
    if (n > 0xFFFF) {
      throw new IllegalArgumentException("string too long to encode: " + n + " bytes");
    }
    return 2 + n;
  }

  private static byte[] strBytes(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    if (b.length > 0xFFFF) {
      throw new IllegalArgumentException("string too long to encode: " + b.length + " bytes");
    }
    return b;
  }

  /** Writes a {@code str} field; an ASCII string byte by byte (its UTF-8 bytes are its chars). */
  private static void putStr(ByteBuffer d, String s) {
    int n = s.length();
    for (int i = 0; i < n; i++) {
      if (s.charAt(i) >= 0x80) {
        byte[] b = strBytes(s);
        d.putShort((short) b.length);
        d.put(b);
        return;
      }
    }
    d.putShort((short) n);
    for (int i = 0; i < n; i++) {
      d.put((byte) s.charAt(i));
    }
  }

  /** The bytes of {@code lease}. */
  public static byte[] encode(ShardLease lease) {
    Out out = new Out(64);
    try {
      DataOutputStream d = out.data;
      d.writeByte(VERSION);
      d.writeByte(KIND_LEASE);
      d.writeInt(lease.shard());
      d.writeLong(lease.epoch());
      writeStr(d, lease.owner().name());
      d.writeLong(lease.heartbeatHlc());
      d.writeLong(lease.position());
      d.writeInt(lease.window());
      d.writeLong(lease.unacked());
      d.writeByte(lease.peerReachable() ? 1 : 0);
      d.writeInt(lease.attributes().size());
      for (var e : lease.attributes().entrySet()) {
        writeStr(d, e.getKey());
        writeStr(d, e.getValue());
      }
      return out.finish();
    } catch (IOException e) {
      throw new UncheckedIOException("a byte array stream does not fail", e);
    }
  }

  /**
   * Reads a record.
   *
   * @throws CorruptRecordException if {@code bytes} are not a record of a known version
   */
  public static IdRecord decodeRecord(byte[] bytes) {
    return decodeRecord(bytes, 0, bytes == null ? 0 : bytes.length);
  }

  /**
   * Reads a record held in {@code bytes[offset, offset + length)} (a changelog value carries one
   * after its own header: no copy of it per record).
   *
   * @throws CorruptRecordException if those bytes are not a record of a known version
   */
  public static IdRecord decodeRecord(byte[] bytes, int offset, int length) {
    ByteBuffer in = checked(bytes, offset, length, KIND_RECORD);
    try {
      String id = readStr(in);
      int shard = in.getInt();
      long generation = in.getLong();
      int phase = in.get() & 0xFF;
      if (phase >= PHASES.length) {
        throw new CorruptRecordException("unknown phase " + phase);
      }
      int attempt = in.getInt();
      long epoch = in.getLong();
      Owner owner = new Owner(RegionId.of(readStr(in)), readStr(in));
      long leaseMillis = in.getLong();
      long hlc = in.getLong();
      long writtenAt = in.getLong();
      int n = count(in, PayloadDigest.LENGTH);
      List<PayloadDigest> digests = new ArrayList<>(n);
      byte[] raw = new byte[PayloadDigest.LENGTH];
      for (int i = 0; i < n; i++) {
        in.get(raw);
        digests.add(PayloadDigest.fromBytes(raw));
      }
      int m = count(in, 8);
      List<Completer> completers = new ArrayList<>(m);
      for (int i = 0; i < m; i++) {
        completers.add(new Completer(RegionId.of(readStr(in)), readStr(in), in.getInt()));
      }
      byte[] result = readOptionalBytes(in);
      byte[] reasonBytes = readOptionalBytes(in);
      String reason = reasonBytes == null ? null : utf8(reasonBytes);
      if (in.remaining() != 0) {
        throw new CorruptRecordException(in.remaining() + " trailing bytes after the record");
      }
      return new IdRecord(id, shard, generation, PHASES[phase], attempt, epoch, owner, leaseMillis,
          hlc, writtenAt, SmallSortedSet.copyOf(digests), SmallSortedSet.copyOf(completers),
          result, reason); // sorted and deduplicated once, as IdRecord keeps them (no TreeSet first)
    } catch (BufferUnderflowException e) {
      throw new CorruptRecordException("truncated record (" + length + " bytes)", e);
    } catch (IllegalArgumentException | NullPointerException e) {
      throw new CorruptRecordException("invalid record field: " + e.getMessage(), e);
    }
  }

  /**
   * Reads a lease.
   *
   * @throws CorruptRecordException if {@code bytes} are not a lease of a known version
   */
  public static ShardLease decodeLease(byte[] bytes) {
    ByteBuffer in = checked(bytes, KIND_LEASE);
    try {
      int shard = in.getInt();
      long epoch = in.getLong();
      RegionId owner = RegionId.of(readStr(in));
      long hb = in.getLong();
      long position = in.getLong();
      int window = in.getInt();
      long unacked = in.getLong();
      int reachable = in.get();
      if (reachable != 0 && reachable != 1) {
        throw new CorruptRecordException("peerReachable flag is " + reachable);
      }
      int k = count(in, 4);
      TreeMap<String, String> attrs = new TreeMap<>();
      for (int i = 0; i < k; i++) {
        attrs.put(readStr(in), readStr(in));
      }
      if (in.remaining() != 0) {
        throw new CorruptRecordException(in.remaining() + " trailing bytes after the lease");
      }
      return new ShardLease(shard, epoch, owner, hb, position, window, unacked, reachable == 1,
          attrs);
    } catch (BufferUnderflowException e) {
      throw new CorruptRecordException("truncated lease (" + bytes.length + " bytes)", e);
    } catch (IllegalArgumentException | NullPointerException e) {
      throw new CorruptRecordException("invalid lease field: " + e.getMessage(), e);
    }
  }

  /** Checks length, version, kind and checksum; returns a buffer over the body (before the CRC). */
  private static ByteBuffer checked(byte[] bytes, byte kind) {
    return checked(bytes, 0, bytes == null ? 0 : bytes.length, kind);
  }

  private static ByteBuffer checked(byte[] bytes, int offset, int length, byte kind) {
    if (bytes == null || length < 6) {
      throw new CorruptRecordException(
          "too short to be a Tandem record: " + (bytes == null ? "null" : length + " bytes"));
    }
    java.util.Objects.checkFromIndexSize(offset, length, bytes.length);
    if (bytes[offset] != VERSION) {
      throw new CorruptRecordException(
          "unknown record format version " + (bytes[offset] & 0xFF) + " (this reader knows "
              + VERSION + ")");
    }
    if (bytes[offset + 1] != kind) {
      throw new CorruptRecordException(
          "expected a " + (kind == KIND_RECORD ? "record" : "lease") + " but the kind byte is "
              + bytes[offset + 1]);
    }
    int bodyEnd = offset + length - 4;
    CRC32C crc = new CRC32C();
    crc.update(bytes, offset, bodyEnd - offset);
    int stored = ByteBuffer.wrap(bytes, bodyEnd, 4).getInt();
    if ((int) crc.getValue() != stored) {
      throw new CorruptRecordException("checksum mismatch (" + length + " bytes)");
    }
    return ByteBuffer.wrap(bytes, offset + 2, bodyEnd - offset - 2).slice();
  }

  private static int count(ByteBuffer in, int minBytesEach) {
    int n = in.getInt();
    if (n < 0 || (long) n * minBytesEach > in.remaining()) {
      throw new CorruptRecordException("element count " + n + " does not fit the bytes left");
    }
    return n;
  }

  private static byte[] readOptionalBytes(ByteBuffer in) {
    int len = in.getInt();
    if (len == -1) {
      return null;
    }
    if (len < 0 || len > in.remaining()) {
      throw new CorruptRecordException("length " + len + " does not fit the bytes left");
    }
    byte[] b = new byte[len];
    in.get(b);
    return b;
  }

  private static void writeStr(DataOutputStream d, String s) throws IOException {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    if (b.length > 0xFFFF) {
      throw new IllegalArgumentException("string too long to encode: " + b.length + " bytes");
    }
    d.writeShort(b.length);
    d.write(b);
  }

  private static String readStr(ByteBuffer in) {
    int len = in.getShort() & 0xFFFF;
    if (len > in.remaining()) {
      throw new CorruptRecordException("string length " + len + " does not fit the bytes left");
    }
    if (in.hasArray()) {
      // ASCII (ids, region and instance names in practice) straight from the backing array: no
      // intermediate copy per string; anything else goes through the strict decoder below
      byte[] a = in.array();
      int from = in.arrayOffset() + in.position();
      boolean ascii = true;
      for (int i = from; i < from + len; i++) {
        if (a[i] < 0) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        in.position(in.position() + len);
        return new String(a, from, len, StandardCharsets.US_ASCII);
      }
    }
    byte[] b = new byte[len];
    in.get(b);
    return utf8(b);
  }

  private static String utf8(byte[] b) {
    // ids, region and instance names are ASCII in practice: ASCII is valid UTF-8 and decodes to the
    // same characters, so only other bytes pay for the strict decoder (malformed input refused)
    boolean ascii = true;
    for (byte x : b) {
      if (x < 0) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      return new String(b, StandardCharsets.US_ASCII);
    }
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(b))
          .toString();
    } catch (CharacterCodingException e) {
      throw new CorruptRecordException("a string field is not UTF-8", e);
    }
  }

  /** A stream whose finish() appends the CRC32C of what was written. */
  private static final class Out {
    final ByteArrayOutputStream bytes;
    final DataOutputStream data;

    Out(int size) {
      bytes = new ByteArrayOutputStream(size);
      data = new DataOutputStream(bytes);
    }

    byte[] finish() throws IOException {
      data.flush();
      CRC32C crc = new CRC32C();
      byte[] body = bytes.toByteArray();
      crc.update(body);
      data.writeInt((int) crc.getValue());
      data.flush();
      return bytes.toByteArray();
    }
  }
}
