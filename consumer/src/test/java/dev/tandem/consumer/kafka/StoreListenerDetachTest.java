package dev.tandem.consumer.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tandem.consumer.OnceProcessor;
import dev.tandem.consumer.kafka.HandoffGateTest.RecordingConsumer;
import dev.tandem.consumer.ownership.OwnershipPolicy;
import dev.tandem.consumer.ownership.ShardOwnership;
import dev.tandem.store.IdempotencyStore;
import dev.tandem.store.StoreListener;
import dev.tandem.store.replication.InMemoryReplicationLog;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;

/**
 * A loop or processor built on a store that outlives it removes the store listeners it added when it
 * closes (review s8-r R1): otherwise every rebuild on a long-lived store leaves a listener, and the
 * object graph it holds (the FollowerHold with its closed KafkaConsumer), in the store's list.
 */
class StoreListenerDetachTest extends MockRegionsFixture {

  /** The listeners added through {@link #tracking} and not removed since. */
  final List<StoreListener> live = new CopyOnWriteArrayList<>();

  IdempotencyStore tracking(IdempotencyStore real) {
    return (IdempotencyStore) Proxy.newProxyInstance(IdempotencyStore.class.getClassLoader(),
        new Class<?>[] {IdempotencyStore.class}, (proxy, m, args) -> {
          if (m.getName().equals("addListener")) {
            live.add((StoreListener) args[0]);
          } else if (m.getName().equals("removeListener")) {
            live.remove((StoreListener) args[0]);
          }
          try {
            return m.invoke(real, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }

  IdempotencyStore realStore(String instance) {
    IdempotencyStore store = IdempotencyStore.builder().region(A).instance(instance)
        .directory(dir.resolve(instance)).clock(clock).meterRegistry(new SimpleMeterRegistry())
        .build();
    open.add(store);
    return store;
  }

  @Test
  void aClosedOnceProcessorLeavesNoListenerOnTheStore() {
    IdempotencyStore store = tracking(realStore("p-1"));
    OnceProcessor p = OnceProcessor.builder().store(store)
        .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
        .meterRegistry(new SimpleMeterRegistry()).build();
    assertEquals(1, live.size(), "the processor's in-progress waiters listen");
    p.close();
    assertEquals(List.of(), live, "listeners left on the store after close");
  }

  @Test
  void aClosedLoopLeavesNoListenerOnTheStore() {
    IdempotencyStore real = realStore("a-1");
    InMemoryReplicationLog log = net.join(real);
    open.add(log);
    log.assign(Set.of(0));
    ShardOwnership ownership = ShardOwnership.builder().region(A).regions(List.of(A, B))
        .store(real).replicationLog(log)
        .policy(OwnershipPolicy.automatic(L, MARGIN, Duration.ofSeconds(60)))
        .revalidateAfter(L).clock(clock).meterRegistry(new SimpleMeterRegistry()).build();
    RecordingConsumer kafka = new RecordingConsumer();
    kafka.updateBeginningOffsets(Map.of(P0, 0L));
    kafka.updateEndOffsets(Map.of(P0, 0L));
    TandemKafkaConsumer<String, byte[]> loop = TandemKafkaConsumer
        .builder(HandoffGateTest.TOPIC, new StringDeserializer(), new ByteArrayDeserializer())
        .consumer(kafka)
        .handler((rec, ctx) -> { })
        .store(tracking(real))
        .deadLetterSink(letter -> CompletableFuture.completedFuture(null))
        .replicationLog(log, false)
        .ownership(ownership)
        .pollTimeout(Duration.ofMillis(20))
        .clock(clock)
        .meterRegistry(new SimpleMeterRegistry())
        .build();
    open.add(loop);
    assertEquals(2, live.size(), "the processor's waiters and the follower hold listen");
    startWithP0(new Node(A, kafka, real, log, ownership, loop, List.of(), null, null));
    loop.close();
    assertEquals(List.of(), live, "listeners left on the store after close");
  }
}
