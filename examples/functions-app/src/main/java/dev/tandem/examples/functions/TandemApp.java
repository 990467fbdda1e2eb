package dev.tandem.examples.functions;

import com.azure.messaging.servicebus.ServiceBusClientBuilder;
import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import com.azure.messaging.servicebus.models.ServiceBusReceiveMode;
import dev.tandem.azure.functions.IdempotentHttp;
import dev.tandem.azure.functions.InstanceStoreDirectory;
import dev.tandem.azure.functions.TandemFunctions;
import dev.tandem.azure.servicebus.ServiceBusNamespaceProbe;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.kafka.KafkaClusterProbe;
import io.micrometer.core.instrument.Metrics;
import java.time.Duration;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

/**
 * The one Tandem instance of this function app's process: a {@link TandemRegion} from the app
 * settings ({@link TandemSettings#regionConfig}) — the RocksDB store in the instance's own directory
 * on its local disk (never the {@code /home} share every instance sees), restored from and
 * replicated through both regions' changelog topics, the shard ownership (which region processes
 * which shard; renewed and taken over by the {@code tandem-heartbeat} timer function) — and what the
 * functions are made from it: the once-processor fenced by the ownership ({@link #functions()}), the
 * HTTP idempotency, and the sender of the Service Bus function's recheck copies (to the same queue
 * of this region's namespace), and the clients the heartbeat probes the triggers' brokers with.
 * Built on first use: by a function, or by the middleware through
 * {@link TandemProvider}.
 */
final class TandemApp {

  private static volatile TandemApp instance;

  /** The {@code tandem-heartbeat} timer's period ({@code 0/5 * * * * *}). */
  static final Duration HEARTBEAT_PERIOD = Duration.ofSeconds(5);

  final TandemSettings settings;
  final TandemRegion region;
  final IdempotentHttp http;
  /** To this region's {@code orders} queue: a follower's recheck copies; null without a connection. */
  final ServiceBusSenderClient recheckSender;
  /**
   * On the trigger's {@code orders} queue (the same {@code ServiceBusConnection}), peek-lock, used
   * only for the heartbeat's {@code peekMessage} probe (a round trip to the namespace; the recheck
   * sender's probe answers from its open link); null without a connection string.
   */
  final ServiceBusReceiverClient triggerReceiver;
  /** Of the Kafka trigger's cluster ({@code KafkaBrokers}) if not the changelog's; else null. */
  final Admin triggerAdmin;

  private TandemApp(TandemSettings s, ServiceBusSenderClient recheckSender) {
    this.settings = s;
    // the region's meters go to Micrometer's global registry: export them to Application Insights
    AppInsightsMetrics.addTo(Metrics.globalRegistry, System.getenv()::get);
    // the owner identity names this instance (the platform's instance id)
    this.region = TandemRegion.create(
        s.regionConfig(InstanceStoreDirectory.instanceName(System.getenv()::get)));
    this.http = IdempotentHttp.builder().region(region).build();
    // The same namespace and queue as the trigger (the ServiceBusConnection setting): a recheck copy
    // must come back to this region's function. The client connects at its first send.
    this.recheckSender = recheckSender != null ? recheckSender
        : s.serviceBusConnection() == null ? null
        : new ServiceBusClientBuilder().connectionString(s.serviceBusConnection()).sender()
            .queueName(OrderFunctions.ORDERS_QUEUE).buildClient();
    this.triggerReceiver = s.serviceBusConnection() == null ? null
        : new ServiceBusClientBuilder().connectionString(s.serviceBusConnection()).receiver()
            .queueName(OrderFunctions.ORDERS_QUEUE).receiveMode(ServiceBusReceiveMode.PEEK_LOCK)
            .disableAutoComplete() // receives nothing; the SDK warns at build if left on
            .buildClient();
    this.triggerAdmin = s.kafkaTriggerCluster().map(servers -> Admin.create(
        Map.<String, Object>of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, servers))).orElse(null);
  }

  /**
   * What {@link TandemProvider} installs for the middleware, {@code TandemFunctions.once} and the
   * heartbeat timer: the processor, ownership and shard count come from the region.
   */
  TandemFunctions.Builder functions() {
    TandemFunctions.Builder b = TandemFunctions.builder()
        .region(region, region.kafkaDeadLetters("orders.tandem-dlq"))
        // warns at start-up if the Kafka function's copies would not survive a takeover
        .kafkaFunctions(takeoverTime(), OrderFunctions.class);
    if (recheckSender != null) {
      // A follower's Service Bus copy is parked as a recheck copy (one heartbeat period later) and
      // the function returns: no abandon toward MaxDeliveryCount while the other region runs it or
      // this region takes its shards over.
      b.recheckSender(recheckSender);
    }
    // The heartbeat renews only while every trigger's broker answers, so a region whose namespace
    // or Kafka trigger cluster is down (its changelog still answering) lets the peer take over.
    if (triggerAdmin != null) {
      b.triggerProbe(
          KafkaClusterProbe.of(settings.kafkaTriggerCluster().orElseThrow(), triggerAdmin));
    }
    if (triggerReceiver != null) {
      b.triggerProbe(ServiceBusNamespaceProbe.of(triggerReceiver));
    }
    return b;
  }

  /** About how long a takeover takes: L + margin + one heartbeat timer period. */
  Duration takeoverTime() {
    return settings.leaseTimeout().plus(settings.takeoverMargin()).plus(HEARTBEAT_PERIOD);
  }

  static TandemApp get() {
    TandemApp a = instance;
    if (a == null) {
      synchronized (TandemApp.class) {
        a = instance;
        if (a == null) {
          a = new TandemApp(TandemSettings.fromEnvironment(), null);
          instance = a;
        }
      }
    }
    return a;
  }

  /** Builds the instance from explicit settings (tests; the Functions host uses the environment). */
  static synchronized TandemApp start(TandemSettings settings) {
    return start(settings, null);
  }

  /**
   * Builds the instance with the given recheck sender (tests, where no Service Bus namespace runs);
   * null builds one from the settings.
   */
  static synchronized TandemApp start(TandemSettings settings, ServiceBusSenderClient recheck) {
    if (instance != null) {
      throw new IllegalStateException("the Tandem app of this process is already built");
    }
    instance = new TandemApp(settings, recheck);
    return instance;
  }

  /** Closes the instance (tests; the Functions host ends the process instead). */
  static synchronized void stop() {
    TandemApp a = instance;
    instance = null;
    if (a != null) {
      a.region.close();
      if (a.recheckSender != null) {
        a.recheckSender.close();
      }
      if (a.triggerReceiver != null) {
        a.triggerReceiver.close();
      }
      if (a.triggerAdmin != null) {
        a.triggerAdmin.close(Duration.ofSeconds(5));
      }
    }
  }
}
