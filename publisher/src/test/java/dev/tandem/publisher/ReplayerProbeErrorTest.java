package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A region's probe (the replayer's health check while its circuit is half-open and its spool is
 * empty) that throws instead of returning a failed future — an {@code Admin.create} that fails on a
 * bad setting, a LinkageError — must count as a failed probe: the half-open permission goes back to
 * the circuit (which opens again and probes later) and the replayer thread carries on. Otherwise the
 * circuit stays half-open with its one permission taken (RuntimeException) or the replayer thread is
 * gone (Error): either way the region never goes back to direct sends until a restart. In memory.
 */
class ReplayerProbeErrorTest {

  private static final RegionId R = RegionId.of("region-p");
  private static final Duration BOUND = Duration.ofSeconds(15);

  /** A region that refuses every send (a region error); its probe throws the first time, then answers. */
  private static final class ProbeThrowsOnce implements RegionalSink {
    final AtomicInteger probes = new AtomicInteger();
    private final Supplier<Throwable> firstProbe;

    ProbeThrowsOnce(Supplier<Throwable> firstProbe) {
      this.firstProbe = firstProbe;
    }

    @Override
    public RegionId region() {
      return R;
    }

    @Override
    public CompletableFuture<SinkAck> send(OutboundMessage message) {
      return CompletableFuture.failedFuture(new IllegalStateException(R + " is down"));
    }

    @Override
    public CompletableFuture<Void> probe() {
      if (probes.getAndIncrement() == 0) {
        Throwable t = firstProbe.get();
        if (t instanceof Error e) {
          throw e;
        }
        throw (RuntimeException) t;
      }
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  }

  private static void recoversAfterAThrowingProbe(Path spool, Supplier<Throwable> firstProbe)
      throws Exception {
    ProbeThrowsOnce sink = new ProbeThrowsOnce(firstProbe);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    DualPublisher publisher = DualPublisher.builder().sink(sink).spoolDirectory(spool)
        // no copy fits the spool: the failed copy fails (spool_full), the spool stays empty, so the
        // replayer has nothing to replay and probes the region while its circuit is half-open
        .spoolMaxBytes(1)
        .circuitBreakerConfig(CircuitBreakerConfig.custom()
            .slidingWindow(1, 1, CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
            .failureRateThreshold(50)
            .waitDurationInOpenState(Duration.ofMillis(100))
            .permittedNumberOfCallsInHalfOpenState(1)
            .automaticTransitionFromOpenToHalfOpenEnabled(true)
            .build())
        .timeout(Duration.ofSeconds(5)).meterRegistry(meters).build();
    try {
      publisher.publish(OutboundMessage.builder("t", 0).value("v".getBytes(StandardCharsets.UTF_8)).build())
          .handle((r, e) -> null).get(BOUND.toSeconds(), TimeUnit.SECONDS);
      assertTrue(publisher.status(R).spooling(), "the failed copy switched the region to the spool path");
      assertTrue(publisher.awaitSpoolDrained(BOUND),
          "the region never went back to direct sends after its probe threw (probes: " + sink.probes.get()
              + ", status: " + publisher.status(R) + ")");
      assertTrue(sink.probes.get() >= 2, "the probe was tried again: " + sink.probes.get());
      assertTrue(meters.get(PublisherMeterNames.REPLAYER_ERRORS).counter().count() >= 1,
          "the replayer's failed step is counted");
    } finally {
      Thread closer = new Thread(publisher::close, "closer");
      closer.setDaemon(true);
      closer.start();
      closer.join(BOUND.toMillis());
    }
  }

  @Test
  void aProbeThatThrowsARuntimeExceptionGivesItsPermissionBack(@TempDir Path spool) throws Exception {
    recoversAfterAThrowingProbe(spool, () -> new IllegalStateException("admin client could not be created"));
  }

  @Test
  void aProbeThatThrowsAnErrorDoesNotEndTheReplayer(@TempDir Path spool) throws Exception {
    recoversAfterAThrowingProbe(spool, () -> new NoClassDefFoundError("org/apache/kafka/clients/admin/Admin"));
  }
}
