/**
 * The machinery of {@link dev.tandem.consumer.kafka.TandemKafkaConsumer}'s poll loop and of {@link
 * dev.tandem.consumer.kafka.TandemConsumerInterceptor}, one concept per class. <b>Not API</b>: public
 * only because the classes in {@code dev.tandem.consumer.kafka} compose these parts (and the Spring
 * starter's held-record back-off uses {@link dev.tandem.consumer.kafka.internal.CompletionWatch});
 * anything here may change in any release.
 *
 * <ul>
 *   <li>{@link dev.tandem.consumer.kafka.internal.LoopContext}: what every part shares (the Kafka
 *       consumer, region, clock, meters).
 *   <li>{@link dev.tandem.consumer.kafka.internal.AssignedPartitions}: the partitions assigned here,
 *       where this instance began in each and how far each shard got (the heartbeats' positions).
 *   <li>{@link dev.tandem.consumer.kafka.internal.OwnerBatch}: the owned shards' records of a poll
 *       claimed, handled and completed in one batch (one claims-durable wait), each within the
 *       replication window; redelivered on failure.
 *   <li>{@link dev.tandem.consumer.kafka.internal.FollowerHold}: a followed shard's records held until
 *       the owner's completion replicates, acknowledged in order, re-sent after {@code maxHold}.
 *   <li>{@link dev.tandem.consumer.kafka.internal.CompletionWatch}: held ids watched in the store
 *       until their completion is applied (counted per holder; the listener removed on close) — the
 *       early release of {@code FollowerHold} and of the Spring starter's {@code HeldRecordRelease}.
 *   <li>{@link dev.tandem.consumer.kafka.internal.PartitionPauses}: a partition paused until a time.
 *   <li>{@link dev.tandem.consumer.kafka.internal.OffsetCommitter}: offsets committed only after the
 *       shard's changelog barrier.
 *   <li>{@link dev.tandem.consumer.kafka.internal.HandoffGate}: a partition received from a holder
 *       that gave it up unflushed waits for that holder's hand-off marker.
 *   <li>{@link dev.tandem.consumer.kafka.internal.RebalanceHandler}: revoke (bounded flush, hand-off
 *       of what is not flushed), loss and assignment.
 *   <li>{@link dev.tandem.consumer.kafka.internal.LeaseRenewer}: the owner's lease renewals — the
 *       loop's round between batches and the background round while a batch runs.
 *   <li>{@link dev.tandem.consumer.kafka.internal.HeldRecordsGauge}: the held-records gauge, one per
 *       registry, region and topic, summing the running loops.
 *   <li>{@link dev.tandem.consumer.kafka.internal.RecordMessages}: a Kafka record as the processor's
 *       message.
 *   <li>Interceptor: {@link dev.tandem.consumer.kafka.internal.PassedRecords} (passed records
 *       waiting for a commit, bounded), {@link dev.tandem.consumer.kafka.internal.InterceptorReports}
 *       (counters, rate-limited WARN lines), {@link
 *       dev.tandem.consumer.kafka.internal.InterceptorReplica} (the replica shared per state
 *       directory).
 * </ul>
 */
package dev.tandem.consumer.kafka.internal;
