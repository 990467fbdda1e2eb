/**
 * Machinery of the consumer module — not API: no compatibility is promised for anything here, and
 * users never need to name these types. The classes are public only because the root package
 * ({@code OnceProcessor}, {@code TandemRegion}) and the Kafka and ownership packages compose them.
 *
 * <p>The parts of {@link dev.tandem.consumer.OnceProcessor}'s claim → handler → complete flow:
 * {@link dev.tandem.consumer.internal.EnvelopeChecker} (its sealed {@link
 * dev.tandem.consumer.internal.EnvelopeCheck} result), {@link
 * dev.tandem.consumer.internal.ClaimAttempt} (one copy's claim as the flow carries it), {@link
 * dev.tandem.consumer.internal.DurableClaimsBarrier}, {@link
 * dev.tandem.consumer.internal.ParkedClaims}, {@link dev.tandem.consumer.internal.InProgressWaiters},
 * {@link dev.tandem.consumer.internal.ClaimRenewer}, {@link
 * dev.tandem.consumer.internal.DeadLetterRouter}, {@link
 * dev.tandem.consumer.internal.HandlerContext}; the meters in {@link
 * dev.tandem.consumer.internal.ConsumerMetrics}. The design: {@code docs/design.md}.
 */
package dev.tandem.consumer.internal;
