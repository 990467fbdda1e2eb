package dev.tandem.publisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The publisher's meter names live in {@link PublisherMeterNames}: a running publisher registers no
 * {@code tandem.*} meter whose name is not there, every name there is registered, and every meter
 * carries the tags the class names. In memory (two fake sinks: A acknowledges, B rejects the message,
 * so the lazily registered {@code failed} counter appears too), no broker.
 */
class PublisherMeterNamesTest {

  static final RegionId A = RegionId.of("region-a");
  static final RegionId B = RegionId.of("region-b");

  /** A sink that acknowledges every copy, or rejects every copy (a message the region refuses). */
  record FakeSink(RegionId region, boolean rejects) implements RegionalSink {
    @Override
    public CompletableFuture<SinkAck> send(OutboundMessage message) {
      return rejects
          ? CompletableFuture.failedFuture(new MessageRejectedException(region, "refused", null))
          : CompletableFuture.completedFuture(new SinkAck(region, message.destination(), message.shard(), 0, 0));
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  }

  @Test
  void everyRegisteredMeterNameIsInPublisherMeterNamesAndEveryNameThereIsRegistered(@TempDir Path spool)
      throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (DualPublisher publisher = DualPublisher.builder()
        .sink(new FakeSink(A, false))
        .sink(new FakeSink(B, true))
        .ackPolicy(AckPolicy.ANY)
        .timeout(Duration.ofSeconds(5))
        .spoolDirectory(spool)
        .name("names-test")
        .meterRegistry(registry)
        .build()) {
      publisher.publish(OutboundMessage.builder("orders", 0)
          .value("v".getBytes(StandardCharsets.UTF_8)).build())
          .handle((r, e) -> e) // a copy a region refuses fails the publish: what the test wants counted
          .get(10, TimeUnit.SECONDS);
      Awaitility.await().atMost(Duration.ofSeconds(10))
          .until(() -> registry.find(PublisherMeterNames.FAILED).counter() != null);

      Set<String> registered = registry.getMeters().stream().map(m -> m.getId().getName())
          .filter(n -> n.startsWith("tandem.")).collect(Collectors.toCollection(TreeSet::new));
      assertEquals(new TreeSet<>(PublisherMeterNames.ALL), registered,
          "tandem.* meters registered vs PublisherMeterNames.ALL");
      for (Meter m : registry.getMeters()) {
        if (m.getId().getName().startsWith("tandem.")) {
          assertEquals("names-test", m.getId().getTag(PublisherMeterNames.TAG_PUBLISHER), m.getId().toString());
          // per publish (not per copy): the published counter and the caller's-completion error counter
          boolean perRegion = !m.getId().getName().equals(PublisherMeterNames.PUBLISHED)
              && !m.getId().getName().equals(PublisherMeterNames.CALLBACK_ERRORS);
          assertEquals(perRegion, m.getId().getTag(PublisherMeterNames.TAG_REGION) != null, m.getId().toString());
        }
      }
      assertEquals("rejected", registry.find(PublisherMeterNames.FAILED).counter().getId()
          .getTag(PublisherMeterNames.TAG_OUTCOME));
      assertEquals(1.0, registry.find(PublisherMeterNames.PUBLISHED).tag(PublisherMeterNames.TAG_OUTCOME, "failed")
          .counter().count());
      assertEquals(1.0, registry.find(PublisherMeterNames.ACKNOWLEDGED).tag(PublisherMeterNames.TAG_REGION, "region-a")
          .counter().count());
    }
  }

  @Test
  void namesAreUniqueAndAllTandemPublisherNames() {
    assertEquals(PublisherMeterNames.ALL.size(), Set.copyOf(PublisherMeterNames.ALL).size());
    PublisherMeterNames.ALL.forEach(n -> assertTrue(n.startsWith("tandem.publisher."), n));
  }
}
