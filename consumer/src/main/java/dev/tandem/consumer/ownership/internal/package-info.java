/**
 * Not API: the machinery behind {@link dev.tandem.consumer.ownership.ShardOwnership}, one concept
 * per class — the {@link dev.tandem.consumer.ownership.internal.LeaseView lease view}, the {@link
 * dev.tandem.consumer.ownership.internal.ReplicationWindow replication window}, {@link
 * dev.tandem.consumer.ownership.internal.LeaseRenewal lease renewal}, the {@link
 * dev.tandem.consumer.ownership.internal.Takeover takeover and its bound}, the {@link
 * dev.tandem.consumer.ownership.internal.HandoverGates handover gates} and the {@link
 * dev.tandem.consumer.ownership.internal.Handover planned handover}, the operator's {@link
 * dev.tandem.consumer.ownership.internal.ManualMove manual move}, automatic {@link
 * dev.tandem.consumer.ownership.internal.Failback failback} and the {@link
 * dev.tandem.consumer.ownership.internal.FailbackRunner runner} that keeps it apart from renewal. Public only because the {@code
 * ownership} package assembles them; types and signatures here change without notice. Use {@link
 * dev.tandem.consumer.ownership.ShardOwnership} and {@link
 * dev.tandem.consumer.ownership.OwnershipPollLoop} instead ({@code docs/design.md#processing-once-across-regions}).
 */
package dev.tandem.consumer.ownership.internal;
