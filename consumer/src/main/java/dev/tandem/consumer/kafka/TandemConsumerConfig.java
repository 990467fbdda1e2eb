package dev.tandem.consumer.kafka;

/**
 * The {@code tandem.*} consumer properties read by {@link TandemConsumerInterceptor} (set next to
 * {@code interceptor.classes} in the consumer's configuration).
 */
public final class TandemConsumerConfig {

  /** The RocksDB directory of this instance's idempotency store (required). */
  public static final String STORE_DIRECTORY = "tandem.store.directory";
  /** This region's name, e.g. {@code westeurope} (required). */
  public static final String REGION = "tandem.region";
  /** This instance's name (default: {@code client.id}, else the host name). */
  public static final String INSTANCE = "tandem.instance";
  /** Record TTL of the store, ISO-8601 duration (default {@code P7D}). */
  public static final String RECORD_TTL = "tandem.record.ttl";

  private TandemConsumerConfig() {}
}
