package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusMessage;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.DualPublisher;
import dev.tandem.publisher.OutboundMessage;
import dev.tandem.publisher.PublishResult;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * What the synchronous and the asynchronous Tandem senders share: one {@link ServiceBusRegionalSink}
 * per region under one {@link DualPublisher}, the message mapping, and scheduling/cancelling.
 */
final class ServiceBusFanOut implements AutoCloseable {

  private final DualPublisher publisher;
  private final Map<RegionId, ServiceBusRegionalSink> sinks;
  private final Map<RegionId, NamespaceSender> senders;
  private final String entityPath;
  private final int shardCount;
  private final boolean closeClients;

  private ServiceBusFanOut(DualPublisher publisher, Map<RegionId, ServiceBusRegionalSink> sinks,
      Map<RegionId, NamespaceSender> senders, String entityPath, int shardCount,
      boolean closeClients) {
    this.publisher = publisher;
    this.sinks = sinks;
    this.senders = senders;
    this.entityPath = entityPath;
    this.shardCount = shardCount;
    this.closeClients = closeClients;
  }

  static ServiceBusFanOut create(Map<RegionId, NamespaceSender> senders, int shardCount,
      int maxBatchMessages, MeterRegistry registry, Consumer<DualPublisher.Builder> options,
      boolean closeClients) {
    return create(senders, shardCount, maxBatchMessages, false, registry, options, closeClients);
  }

  /** @param sendSingly one message per batch on the wire (see the senders' {@code sendSingly}) */
  static ServiceBusFanOut create(Map<RegionId, NamespaceSender> senders, int shardCount,
      int maxBatchMessages, boolean sendSingly, MeterRegistry registry,
      Consumer<DualPublisher.Builder> options, boolean closeClients) {
    if (senders.isEmpty()) {
      throw new IllegalStateException("add at least one region(...) sender");
    }
    if (shardCount <= 0) {
      throw new IllegalStateException("shardCount(...) must be set to the consumers' shard count (> 0)");
    }
    if (options == null) {
      throw new IllegalStateException(
          "publisher(options) must set at least the spool directory of the DualPublisher");
    }
    String entityPath = null;
    for (Map.Entry<RegionId, NamespaceSender> e : senders.entrySet()) {
      String path = e.getValue().entityPath();
      if (entityPath == null) {
        entityPath = path;
      } else if (!entityPath.equals(path)) {
        throw new IllegalArgumentException("every region must send to the same queue or topic: "
            + senders.keySet().iterator().next() + " sends to '" + entityPath + "', " + e.getKey()
            + " to '" + path + "'");
      }
    }
    Map<RegionId, ServiceBusRegionalSink> sinks = new LinkedHashMap<>();
    DualPublisher publisher;
    try {
      DualPublisher.Builder b = DualPublisher.builder().meterRegistry(registry);
      for (Map.Entry<RegionId, NamespaceSender> e : senders.entrySet()) {
        ServiceBusRegionalSink sink =
            new ServiceBusRegionalSink(e.getKey(), e.getValue(), maxBatchMessages, sendSingly,
                registry);
        sinks.put(e.getKey(), sink);
        b.sink(sink);
      }
      options.accept(b);
      publisher = b.build();
    } catch (RuntimeException | Error e) {
      // Error too (the caller's options run here): else each failed build leaves its workers running
      sinks.values().forEach(ServiceBusRegionalSink::close); // stops the workers, not the clients
      throw e;
    }
    return new ServiceBusFanOut(publisher, sinks, Map.copyOf(senders), entityPath, shardCount,
        closeClients);
  }

  DualPublisher publisher() {
    return publisher;
  }

  String entityPath() {
    return entityPath;
  }

  List<RegionId> regions() {
    return publisher.regions();
  }

  /** Publishes {@code message} to every region (scheduled for {@code scheduleAt} when not null). */
  CompletableFuture<PublishResult> publish(ServiceBusMessage message, OffsetDateTime scheduleAt) {
    OutboundMessage outbound =
        ServiceBusMessageMapping.toOutbound(entityPath, message, shardCount, scheduleAt);
    checkSize(outbound);
    return publisher.publish(outbound);
  }

  /**
   * Refuses, before anything is sent or spooled, a body larger than the maximum message size a
   * region's namespace announced (known from its first batch): every region would refuse that copy,
   * and a region that is down would keep it in its spool until its replay rejected it.
   */
  private void checkSize(OutboundMessage m) {
    for (Map.Entry<RegionId, ServiceBusRegionalSink> e : sinks.entrySet()) {
      int max = e.getValue().maxMessageBytes();
      if (max > 0 && m.valueSize() > max) {
        throw new IllegalArgumentException("message " + m.id() + " has a body of " + m.valueSize()
            + " bytes, over the maximum message size of " + e.getKey() + "'s namespace (" + max
            + " bytes, headers and properties included)");
      }
    }
  }

  /**
   * Maps every message first (so that one that cannot be carried fails the call before anything is
   * sent), then publishes them in order.
   */
  List<CompletableFuture<PublishResult>> publishAll(List<ServiceBusMessage> messages) {
    List<OutboundMessage> mapped = new ArrayList<>(messages.size());
    for (ServiceBusMessage m : messages) {
      OutboundMessage outbound = ServiceBusMessageMapping.toOutbound(entityPath, m, shardCount, null);
      checkSize(outbound);
      mapped.add(outbound);
    }
    List<CompletableFuture<PublishResult>> futures = new ArrayList<>(mapped.size());
    for (OutboundMessage m : mapped) {
      futures.add(publisher.publish(m));
    }
    return futures;
  }

  CompletableFuture<ScheduledMessage> schedule(ServiceBusMessage message, OffsetDateTime at) {
    return publish(message, at).thenApply(r -> new ScheduledMessage(r, at, regions()));
  }

  /**
   * Cancels every region's copy: at once where its sequence number is known, after the replay
   * (through the same ordered queue) where the copy still waits in the spool.
   */
  Map<RegionId, CompletableFuture<Void>> cancel(ScheduledMessage message) {
    Map<RegionId, CompletableFuture<Void>> perRegion = new LinkedHashMap<>();
    for (RegionId r : message.regions()) {
      perRegion.put(r, message.sequenceNumber(r)
          .thenCompose(seq -> sink(r).cancel(seq, message.id())));
    }
    return perRegion;
  }

  Map<RegionId, CompletableFuture<Void>> cancel(Map<RegionId, Long> sequenceNumbers) {
    return cancel(null, sequenceNumbers);
  }

  /** @param id the copies' {@code MessageId} (the Tandem id): other copies of it are cancelled too */
  Map<RegionId, CompletableFuture<Void>> cancel(String id, Map<RegionId, Long> sequenceNumbers) {
    Map<RegionId, CompletableFuture<Void>> perRegion = new LinkedHashMap<>();
    sequenceNumbers.forEach((r, seq) -> perRegion.put(r, sink(r).cancel(seq, id)));
    return perRegion;
  }

  /** Where {@code region}'s cancellations find every scheduled copy of a {@code MessageId}. */
  void scheduledCopies(RegionId region, ScheduledCopies lookup) {
    sink(region).scheduledCopies(lookup);
  }

  private ServiceBusRegionalSink sink(RegionId region) {
    ServiceBusRegionalSink sink = sinks.get(region);
    if (sink == null) {
      throw new IllegalArgumentException("no region " + region + " in this sender " + sinks.keySet());
    }
    return sink;
  }

  @Override
  public void close() {
    publisher.close(); // flushes, stops the replayers, closes the sinks
    if (closeClients) {
      senders.values().forEach(NamespaceSender::close);
    }
  }
}
