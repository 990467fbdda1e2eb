package dev.tandem.store;

/**
 * A snapshot of a store's figures (the same values are exported as Micrometer meters).
 *
 * @param approximateRecords RocksDB's {@code rocksdb.estimate-num-keys} summed over live buckets
 * @param liveBuckets number of TTL buckets (column families) holding records
 * @param cacheEntries terminal records in the cache (exact; at most {@code cacheMaxEntries})
 * @param cacheHits cache hits since open
 * @param cacheMisses cache misses since open
 * @param cacheHitRatio hits / requests, 1.0 when there were no requests
 * @param detectedDuplicates ids that became detected cross-region duplicates (persisted)
 */
public record StoreStats(
    long approximateRecords,
    int liveBuckets,
    long cacheEntries,
    long cacheHits,
    long cacheMisses,
    double cacheHitRatio,
    long detectedDuplicates) {}
