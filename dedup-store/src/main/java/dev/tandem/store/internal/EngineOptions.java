package dev.tandem.store.internal;

import java.util.List;
import java.util.Properties;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.BloomFilter;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.InfoLogLevel;

/**
 * The RocksDB options of the store's database and of its TTL-bucket column families, in one place:
 * the engine opens with them, and {@code StorePutAnatomyBenchmark} reproduces the store's puts with
 * the very same options (issue 20). Option objects only, no database handle; each method returns a
 * new native object that the caller closes (after the database that uses it).
 */
public final class EngineOptions {

  /** Bound of the WAL shared by the column families (see {@link #dbOptions}). */
  public static final long MAX_TOTAL_WAL_SIZE = 64L << 20;

  /**
   * The RocksDB option (by its option-string name: RocksJava has no setter for it) that gives each
   * shard its own memtable insert position: {@value}.
   */
  public static final String INSERT_HINT_OPTION = "memtable_insert_with_hint_prefix_extractor";

  /** The hint's prefix: a record key's 4-byte shard ({@code RecordKey}'s layout). */
  public static final String SHARD_PREFIX = "rocksdb.FixedPrefix.4";

  private EngineOptions() {}

  /**
   * The database's options: {@code createIfMissing} for a new store, paranoid checks, warnings only
   * in RocksDB's own log, and a bounded WAL.
   */
  public static DBOptions dbOptions(boolean createIfMissing) {
    return new DBOptions()
        .setCreateIfMissing(createIfMissing)
        .setCreateMissingColumnFamilies(true)
        .setParanoidChecks(true)
        .setInfoLogLevel(InfoLogLevel.WARN_LEVEL)
        .setKeepLogFileNum(2)
        // several column families share one WAL: bound it so a quiet bucket cannot pin old WAL
        // files forever (RocksDB flushes the family holding the oldest one)
        .setMaxTotalWalSize(MAX_TOTAL_WAL_SIZE);
  }

  /**
   * The options of a TTL bucket. {@code owned} receives the native objects the options refer to (the
   * bloom filter policy), to be closed after the options.
   *
   * <p>SST bloom filters: point look-ups of absent ids in older buckets are the common miss; the
   * filters skip them. The memtable gets a whole-key bloom filter too: a fresh id's claim looks its
   * key up before writing it, and most of those look-ups miss in the memtable, where the filter
   * answers without a skip-list search (RocksDB's memtable_whole_key_filtering; 10% of the memtable's
   * size is RocksDB's suggested ratio for it).
   *
   * <p>With {@code insertHint}, a memtable insert position per shard ({@link #INSERT_HINT_OPTION}).
   * RocksDB's memtable skip list remembers where its last insert went, and an insert next to it costs
   * a few key comparisons instead of a search from the top (~30 comparisons, most of them cache
   * misses, in a memtable of 400,000 entries). One remembered position serves one run of keys; a
   * store's keys are a run per shard interleaved with the other shards' (the consumers' partitions),
   * and a complete's entry goes right beside its claim's (same key, newer sequence number), so with
   * one position every put searched from the top (issue 20: 31 key comparisons per claim and per
   * complete, against 2 for the benchmark's raw put of counting-up keys; ~10 with a position per
   * shard: PutAnatomyCountsTest). Memtable-only: nothing on disk changes, stores written without it
   * open and read as before. Cost: ~250 bytes of memory per shard per memtable (RocksDB's figure).
   * RocksDB uses the hint when a write group has a single writer (its concurrent inserts, two writers
   * in one group, search anyway: 0.3-0.6 % of the puts with two threads, counted). The store always passes true;
   * false is the benchmark's before-and-after row.
   */
  public static ColumnFamilyOptions bucketOptions(boolean insertHint, List<AutoCloseable> owned) {
    ColumnFamilyOptions options;
    if (insertHint) {
      Properties props = new Properties();
      props.setProperty(INSERT_HINT_OPTION, SHARD_PREFIX);
      options = ColumnFamilyOptions.getColumnFamilyOptionsFromProps(props);
      if (options == null) { // RocksJava answers null when RocksDB refuses the option string
        throw new IllegalStateException("this RocksDB build refuses the column-family option "
            + INSERT_HINT_OPTION + "=" + SHARD_PREFIX);
      }
    } else {
      options = new ColumnFamilyOptions();
    }
    BloomFilter bloom = new BloomFilter(10, false);
    owned.add(bloom);
    return options
        .setTableFormatConfig(new BlockBasedTableConfig().setFilterPolicy(bloom))
        .setMemtableWholeKeyFiltering(true)
        .setMemtablePrefixBloomSizeRatio(0.1);
  }
}
