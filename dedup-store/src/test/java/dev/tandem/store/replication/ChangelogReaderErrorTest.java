package dev.tandem.store.replication;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tandem.core.TandemClock;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.StoreMeterNames;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The changelog reader's thread must not die ("replication must go on once the cause is gone"): a
 * step that throws an Error — here from inside poll, as a StackOverflowError or a LinkageError from a
 * deserializer or the client would — is counted and retried like a RuntimeException. Before, the
 * thread ended, the consumer closed, and nothing was replicated or restored again until a restart.
 * MockConsumer, real RocksDB store.
 */
class ChangelogReaderErrorTest {

  private static final String TOPIC = "t.changelog";

  @Test
  void aStepThatThrowsAnErrorIsCountedAndTheReaderGoesOn(@TempDir Path dir) throws Exception {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    TopicPartition tp = new TopicPartition(TOPIC, 0);
    MockConsumer<byte[], byte[]> kafka = new MockConsumer<>("earliest");
    kafka.updateBeginningOffsets(Map.of(tp, 0L));
    kafka.updateEndOffsets(Map.of(tp, 0L));
    try (IdempotencyStore store = IdempotencyStore.builder().region(TestRegions.A).instance("i-a")
        .directory(dir).meterRegistry(meters).build()) {
      LagTracker lag = new LagTracker(TestRegions.A, TandemClock.system(), meters);
      ChangelogReader reader = new ChangelogReader(store, kafka, TOPIC, new BatchApplier(store, lag, meters),
          lag, TandemClock.system(), Duration.ofMillis(20), Duration.ofSeconds(5),
          shard -> List.of(TOPIC + "/" + shard), meters);
      reader.start();
      try {
        reader.assign(Set.of(0));
        await("shard 0 restored").atMost(Duration.ofSeconds(20)).until(() -> reader.isRestored(0));
        AtomicBoolean thrown = new AtomicBoolean();
        kafka.schedulePollTask(() -> {
          thrown.set(true);
          throw new StackOverflowError("deserializing a changelog record");
        });
        await("the step that throws").atMost(Duration.ofSeconds(20)).until(thrown::get);
        // the reader thread still runs commands and reads: a wait for the current end is answered
        reader.awaitCurrentEnd(Set.of(0)).get(20, TimeUnit.SECONDS);
        assertEquals(1.0, meters.get(StoreMeterNames.REPLICATION_READER_ERRORS).counter().count(),
            "the failed step is counted");
      } finally {
        reader.close(Duration.ofSeconds(10));
      }
    }
  }
}
