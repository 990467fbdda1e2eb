package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.azure.messaging.servicebus.ServiceBusMessage;
import com.azure.messaging.servicebus.ServiceBusMessageBatch;
import com.azure.messaging.servicebus.models.CreateMessageBatchOptions;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.MessageRejectedException;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * An Error thrown by the Service Bus SDK inside the sink's worker — a LinkageError between azure-core,
 * reactor and netty versions (NoSuchMethodError is the classic), an OutOfMemoryError — must fail the
 * copies in hand as the region's failure (the publisher spools them) and leave the worker running:
 * before, the worker thread ended, the copies it held were never answered, and every later copy queued
 * behind them for ever, so the region's replay and the sink's flush() never ended. In memory
 * (FakeNamespace over the SDK's real message and batch classes).
 */
class ServiceBusSinkWorkerErrorTest {

  static final RegionId A = TestRegions.A;
  static final Duration BOUND = Duration.ofSeconds(10);

  /** The fake namespace's sender, whose first {@code sendMessages} (or schedule) throws an Error. */
  static final class ErrorOnce implements NamespaceSender {
    final NamespaceSender real;
    final AtomicInteger errorsLeft = new AtomicInteger(1);

    ErrorOnce(NamespaceSender real) {
      this.real = real;
    }

    private void maybeThrow() {
      if (errorsLeft.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
        throw new NoSuchMethodError("'reactor.core.publisher.Mono reactor.core.publisher.Mono.onErrorMap'");
      }
    }

    @Override
    public String entityPath() {
      return real.entityPath();
    }

    @Override
    public String namespace() {
      return real.namespace();
    }

    @Override
    public ServiceBusMessageBatch createMessageBatch() {
      return real.createMessageBatch();
    }

    @Override
    public ServiceBusMessageBatch createMessageBatch(CreateMessageBatchOptions options) {
      return real.createMessageBatch(options);
    }

    @Override
    public void sendMessages(ServiceBusMessageBatch batch) {
      maybeThrow();
      real.sendMessages(batch);
    }

    @Override
    public long scheduleMessage(ServiceBusMessage message, OffsetDateTime enqueueAt) {
      maybeThrow();
      return real.scheduleMessage(message, enqueueAt);
    }

    @Override
    public void cancelScheduledMessage(long sequenceNumber) {
      real.cancelScheduledMessage(sequenceNumber);
    }

    @Override
    public void close() {
      real.close();
    }
  }

  static OutboundMessage message(String id) {
    return OutboundMessage.builder("orders", 0).id(id).value(new byte[] {1}).build();
  }

  @Test
  void anErrorFromTheSdkFailsTheCopyForTheRegionAndTheWorkerGoesOn() throws Exception {
    FakeNamespace ns = new FakeNamespace("orders", 100, 256 * 1024, 1);
    ns.sdkLinkMaxBytes = 256 * 1024;
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    ServiceBusRegionalSink sink = new ServiceBusRegionalSink(A,
        new ErrorOnce(new SyncNamespaceSender(ns.syncClient())), 100, registry);
    try {
      CompletableFuture<?> first = sink.send(message("m-0"));
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> first.get(BOUND.toSeconds(), TimeUnit.SECONDS),
          "the copy whose send threw an Error in the worker was never answered");
      assertInstanceOf(NoSuchMethodError.class, e.getCause());
      assertFalse(e.getCause() instanceof MessageRejectedException, "the region's failure, not a rejection");

      sink.send(message("m-1")).get(BOUND.toSeconds(), TimeUnit.SECONDS);
      assertEquals(List.of("m-1"), ns.deliveredIds(), "the worker still sends");
      CompletableFuture.runAsync(sink::flush).get(BOUND.toSeconds(), TimeUnit.SECONDS);
      assertEquals(1.0, registry.get("tandem.servicebus.batches").tags("region", "region-a", "outcome", "error")
          .counter().count(), "the Error is counted");
    } finally {
      sink.closeWaitMillis = 1_000;
      sink.close();
    }
  }
}
