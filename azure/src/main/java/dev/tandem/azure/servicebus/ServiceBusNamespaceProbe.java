package dev.tandem.azure.servicebus;

import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import dev.tandem.consumer.ownership.BrokerProbe;
import dev.tandem.consumer.ownership.OwnerLiveness;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The liveness probe of a Service Bus namespace, for an owner whose messages come through a Service
 * Bus trigger ({@link OwnerLiveness}): while the namespace does not answer, the owner renews no
 * shard lease, so the other region takes its shards over and processes their copies there, instead
 * of this region's copies waiting out the outage (issue 15 item 8).
 *
 * <p>Each probe is one call through an SDK client the application holds for the trigger's entity,
 * in this region's namespace:
 *
 * <ul>
 *   <li>{@link #of(ServiceBusReceiverClient)}: {@code peekMessage()}, a request-response on the
 *       entity's management link: every probe is a round trip to the namespace (needs the Listen
 *       right the trigger has). <b>Use this one.</b>
 *   <li>{@link #of(ServiceBusSenderClient)}: {@code createMessageBatch()}. <b>Not a round trip while
 *       the send link is open</b>: the SDK builds the batch from {@code getSendLink()} and the link's
 *       {@code getLinkSize()}, which returns the size cached when the link opened; only a closed
 *       link or connection makes it open them again, a request that fails while the namespace is
 *       down. So it notices an outage only once the SDK has closed the link or the AMQP connection
 *       (e.g. on the connection's idle timeout), not within a probe's timeout. Needs only the Send
 *       right a recheck sender has; {@link #roundTrip()} is false.
 * </ul>
 *
 * <p>The SDK retries a request up to its own {@code tryTimeout} (60 s by default); the probe waits
 * at most the round's timeout, on one daemon thread of its own, and counts a request still running
 * from an earlier round as "no answer" (it never stacks requests).
 */
public final class ServiceBusNamespaceProbe implements BrokerProbe {

  private final String name;
  private final Runnable request;
  private final boolean roundTrip;
  /** One daemon thread per probe: a request runs on it, never two at once (see answers). */
  private final ExecutorService executor;
  private Future<?> running;

  private ServiceBusNamespaceProbe(String name, Runnable request, boolean roundTrip) {
    this.name = name;
    this.request = request;
    this.roundTrip = roundTrip;
    this.executor = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "tandem-probe-" + name);
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * Probes the namespace of {@code receiver}'s entity with {@code peekMessage()}: a round trip to
   * the namespace on every probe.
   */
  public static ServiceBusNamespaceProbe of(ServiceBusReceiverClient receiver) {
    Objects.requireNonNull(receiver, "receiver");
    return new ServiceBusNamespaceProbe(
        "servicebus:" + receiver.getFullyQualifiedNamespace() + "/" + receiver.getEntityPath(),
        receiver::peekMessage, true);
  }

  /**
   * Probes the namespace of {@code sender}'s entity with {@code createMessageBatch()}: answers from
   * the open send link without a request, so it notices an outage only once the SDK has closed the
   * link or connection (see the class doc). Prefer {@link #of(ServiceBusReceiverClient)}.
   */
  public static ServiceBusNamespaceProbe of(ServiceBusSenderClient sender) {
    Objects.requireNonNull(sender, "sender");
    return new ServiceBusNamespaceProbe(
        "servicebus:" + sender.getFullyQualifiedNamespace() + "/" + sender.getEntityPath(),
        sender::createMessageBatch, false);
  }

  @Override
  public String name() {
    return name;
  }

  /**
   * Whether every probe is a request the namespace must answer (a receiver's peek); false for a
   * sender's, which answers from the open link.
   */
  public boolean roundTrip() {
    return roundTrip;
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
    Future<?> task = executor.submit(request);
    running = task;
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
    return "ServiceBusNamespaceProbe[" + name + (roundTrip ? "" : ", answers from the open link")
        + "]";
  }
}
