package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.consumer.ownership.BrokerProbe;
import dev.tandem.consumer.ownership.OwnerLiveness;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The liveness probe of a Service Bus namespace, for an owner whose messages come through a Service
 * Bus trigger ({@link OwnerLiveness}): while the namespace does not answer, the owner renews no
 * shard lease, so the other region takes its shards over and processes their copies there, instead
 * of this region's copies waiting out the outage (issue 15 item 8).
 *
 * <p>Each probe is one cheap request through the SDK client the application already holds for the
 * trigger's entity, in this region's namespace:
 *
 * <ul>
 *   <li>{@link #of(ServiceBusReceiverClient)}: {@code peekMessage()}, a request-response on the
 *       entity's management link (needs the Listen right the trigger has). The stronger probe.
 *   <li>{@link #of(ServiceBusSenderClient)}: {@code createMessageBatch()}, which obtains the send
 *       link (opening it, and the connection, when they are down) and asks its maximum message size.
 *       Needs only the Send right the recheck sender has.
 * </ul>
 *
 * <p>The SDK retries a request up to its own {@code tryTimeout} (60 s by default); the probe waits
 * at most the round's timeout, on a daemon thread of its own, and counts a request still running
 * from an earlier round as "no answer" (it never stacks requests).
 */
public final class ServiceBusNamespaceProbe implements BrokerProbe {

  private final String name;
  private final Runnable request;
  private Future<?> running;

  private ServiceBusNamespaceProbe(String name, Runnable request) {
    this.name = name;
    this.request = request;
  }

  /** Probes the namespace of {@code receiver}'s entity with {@code peekMessage()}. */
  public static ServiceBusNamespaceProbe of(ServiceBusReceiverClient receiver) {
    Objects.requireNonNull(receiver, "receiver");
    return new ServiceBusNamespaceProbe(
        "servicebus:" + receiver.getFullyQualifiedNamespace() + "/" + receiver.getEntityPath(),
        receiver::peekMessage);
  }

  /** Probes the namespace of {@code sender}'s entity with {@code createMessageBatch()}. */
  public static ServiceBusNamespaceProbe of(ServiceBusSenderClient sender) {
    Objects.requireNonNull(sender, "sender");
    return new ServiceBusNamespaceProbe(
        "servicebus:" + sender.getFullyQualifiedNamespace() + "/" + sender.getEntityPath(),
        sender::createMessageBatch);
  }

  @Override
  public String name() {
    return name;
  }

  /**
   * Sends the request and waits up to {@code timeout}.
   *
   * @throws IllegalStateException with the SDK's error, a timeout, or a request still running
   */
  @Override
  public synchronized boolean answers(Duration timeout) {
    if (running != null && !running.isDone()) {
      throw new IllegalStateException("the previous request to the namespace has not returned");
    }
    FutureTask<Void> task = new FutureTask<>(request, null);
    Thread t = new Thread(task, "tandem-probe-" + name);
    t.setDaemon(true);
    running = task;
    t.start();
    try {
      task.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
      return true;
    } catch (TimeoutException e) {
      throw new IllegalStateException("no answer within " + timeout);
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      throw new IllegalStateException(c.getClass().getSimpleName() + ": " + c.getMessage(), c);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while probing", e);
    }
  }

  @Override
  public String toString() {
    return "ServiceBusNamespaceProbe[" + name + "]";
  }
}
