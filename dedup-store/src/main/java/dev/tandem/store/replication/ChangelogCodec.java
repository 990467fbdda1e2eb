package dev.tandem.store.replication;

import dev.tandem.core.RegionId;
import dev.tandem.store.CorruptRecordException;
import dev.tandem.store.IdRecord;
import dev.tandem.store.RecordCodec;
import dev.tandem.store.ShardLease;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Keys and values of the changelog topics.
 *
 * <p><b>Key</b> = {@code type | origin region | writer incarnation | subject}, UTF-8, '|'-separated:
 * {@code r|region-a|<incarnation>|<id>} for a record, {@code l|region-a|<incarnation>|<shard>} for a
 * lease, {@code h|region-a|<incarnation>} for a heartbeat, {@code f|region-a|<incarnation>|<shard>} for
 * a hand-off marker. Why not the id alone: compaction keeps the
 * newest <em>offset</em> per key, not the lattice maximum, so two writers sharing a key could leave
 * the smaller record as the survivor (a late send from another region, a zombie instance). With one
 * writer per key, and each writer shipping its full merged record (which only grows) in write order,
 * the survivor of each key is that writer's largest record, and the join over all keys of an id is the
 * id's full state. The id comes last, so ids that hold '|' stay unambiguous (regions and
 * incarnations cannot hold it).
 *
 * <p><b>Value</b> = {@code u8 format (1), u8 type, payload}: type 1 = {@link RecordCodec} bytes of an
 * {@link IdRecord}, 2 = {@link RecordCodec} bytes of a {@link ShardLease}, 3 = heartbeat ({@code
 * u16+UTF-8 origin, u16+UTF-8 incarnation, i32 shard, i64 sentAtMillis, i64 hlc}), 4 = hand-off
 * marker ({@code u16+UTF-8 origin, u16+UTF-8 incarnation, i32 shard, i64 mark}). An unknown format
 * or type, or a payload that does not decode, is a {@link CorruptRecordException}.
 */
final class ChangelogCodec {

  /** The value format written by this class. */
  static final byte FORMAT = 1;

  static final byte TYPE_RECORD = 1;
  static final byte TYPE_LEASE = 2;
  static final byte TYPE_HEARTBEAT = 3;
  static final byte TYPE_HANDOFF = 4;

  private ChangelogCodec() {}

  static String recordKey(RegionId origin, String incarnation, String id) {
    return "r|" + origin.name() + "|" + incarnation + "|" + id;
  }

  static String leaseKey(RegionId origin, String incarnation, int shard) {
    return "l|" + origin.name() + "|" + incarnation + "|" + shard;
  }

  static String heartbeatKey(RegionId origin, String incarnation) {
    return "h|" + origin.name() + "|" + incarnation;
  }

  static String handoffKey(RegionId origin, String incarnation, int shard) {
    return "f|" + origin.name() + "|" + incarnation + "|" + shard;
  }

  static byte[] encode(ChangelogEntry.HandoffMarker m) {
    byte[] origin = m.origin().name().getBytes(StandardCharsets.UTF_8);
    byte[] inc = m.incarnation().getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(2 + 2 + origin.length + 2 + inc.length + 4 + 8);
    b.put(FORMAT).put(TYPE_HANDOFF);
    b.putShort((short) origin.length).put(origin);
    b.putShort((short) inc.length).put(inc);
    b.putInt(m.shard()).putLong(m.mark());
    return b.array();
  }

  static byte[] encode(IdRecord record) {
    return prefixed(TYPE_RECORD, RecordCodec.encode(record));
  }

  static byte[] encode(ShardLease lease) {
    return prefixed(TYPE_LEASE, RecordCodec.encode(lease));
  }

  static byte[] encode(ChangelogEntry.Heartbeat hb) {
    byte[] origin = hb.origin().name().getBytes(StandardCharsets.UTF_8);
    byte[] inc = hb.incarnation().getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(2 + 2 + origin.length + 2 + inc.length + 4 + 8 + 8);
    b.put(FORMAT).put(TYPE_HEARTBEAT);
    b.putShort((short) origin.length).put(origin);
    b.putShort((short) inc.length).put(inc);
    b.putInt(hb.shard()).putLong(hb.sentAtMillis()).putLong(hb.hlc());
    return b.array();
  }

  /**
   * Decodes a changelog value.
   *
   * @throws CorruptRecordException if it is not a changelog value this version can read
   */
  static ChangelogEntry decode(byte[] value) {
    if (value == null || value.length < 2) {
      throw new CorruptRecordException(
          "too short to be a changelog value: " + (value == null ? "null" : value.length + " bytes"));
    }
    if (value[0] != FORMAT) {
      throw new CorruptRecordException(
          "unknown changelog format " + (value[0] & 0xFF) + " (this reader knows " + FORMAT + ")");
    }
    return switch (value[1]) {
      case TYPE_RECORD ->
          new ChangelogEntry.RecordEntry(RecordCodec.decodeRecord(value, 2, value.length - 2));
      case TYPE_LEASE ->
          new ChangelogEntry.LeaseEntry(
              RecordCodec.decodeLease(Arrays.copyOfRange(value, 2, value.length)));
      case TYPE_HEARTBEAT -> decodeHeartbeat(value);
      case TYPE_HANDOFF -> decodeHandoff(value);
      default -> throw new CorruptRecordException("unknown changelog entry type " + value[1]);
    };
  }

  private static ChangelogEntry.Heartbeat decodeHeartbeat(byte[] value) {
    ByteBuffer in = ByteBuffer.wrap(value, 2, value.length - 2);
    try {
      RegionId origin = RegionId.of(str(in));
      String incarnation = str(in);
      int shard = in.getInt();
      long sentAt = in.getLong();
      long hlc = in.getLong();
      if (in.hasRemaining()) {
        throw new CorruptRecordException(in.remaining() + " trailing bytes after a heartbeat");
      }
      return new ChangelogEntry.Heartbeat(origin, incarnation, shard, sentAt, hlc);
    } catch (BufferUnderflowException e) {
      throw new CorruptRecordException("truncated heartbeat (" + value.length + " bytes)", e);
    } catch (IllegalArgumentException e) {
      throw new CorruptRecordException("invalid heartbeat field: " + e.getMessage(), e);
    }
  }

  private static ChangelogEntry.HandoffMarker decodeHandoff(byte[] value) {
    ByteBuffer in = ByteBuffer.wrap(value, 2, value.length - 2);
    try {
      RegionId origin = RegionId.of(str(in));
      String incarnation = str(in);
      int shard = in.getInt();
      long mark = in.getLong();
      if (in.hasRemaining()) {
        throw new CorruptRecordException(in.remaining() + " trailing bytes after a hand-off marker");
      }
      return new ChangelogEntry.HandoffMarker(origin, incarnation, shard, mark);
    } catch (BufferUnderflowException e) {
      throw new CorruptRecordException("truncated hand-off marker (" + value.length + " bytes)", e);
    } catch (IllegalArgumentException e) {
      throw new CorruptRecordException("invalid hand-off marker field: " + e.getMessage(), e);
    }
  }

  private static String str(ByteBuffer in) {
    int len = in.getShort() & 0xFFFF;
    if (len > in.remaining()) {
      throw new CorruptRecordException("string length " + len + " does not fit the bytes left");
    }
    byte[] b = new byte[len];
    in.get(b);
    return new String(b, StandardCharsets.UTF_8);
  }

  private static byte[] prefixed(byte type, byte[] payload) {
    byte[] out = new byte[payload.length + 2];
    out[0] = FORMAT;
    out[1] = type;
    System.arraycopy(payload, 0, out, 2, payload.length);
    return out;
  }
}
