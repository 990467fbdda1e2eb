package dev.tandem.examples.functions;

import com.azure.messaging.servicebus.ServiceBusClientBuilder;
import com.azure.messaging.servicebus.ServiceBusReceiverClient;
import com.azure.messaging.servicebus.ServiceBusSenderClient;
import com.azure.messaging.servicebus.models.ServiceBusReceiveMode;
import dev.tandem.azure.functions.IdempotentHttp;
import dev.tandem.azure.functions.TandemAppSettings;
import dev.tandem.azure.functions.TandemFunctions;
import dev.tandem.azure.functions.TandemFunctionsProvider;
import dev.tandem.azure.servicebus.ServiceBusNamespaceProbe;
import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.kafka.KafkaClusterProbe;
import io.micrometer.core.instrument.Metrics;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

/**
 * The app's Tandem code; the rest is app settings ({@code TANDEM_*}, read by {@link
 * TandemAppSettings}; README "Settings"). Registered in META-INF/services: the first protected
 * invocation (or the heartbeat timer) builds this process's {@link App} and installs its functions.
 */
public final class TandemProvider implements TandemFunctionsProvider {

  /** The Service Bus trigger's connection setting; the recheck sender and probe use it too. */
  static final String SERVICE_BUS = "ServiceBusConnection";
  /** The Kafka trigger's bootstrap servers ({@code brokerList = "%KafkaBrokers%"}). */
  static final String KAFKA_BROKERS = "KafkaBrokers";

  private static App app;

  @Override
  public TandemFunctions.Builder configure() {
    return app().functions();
  }

  /** This process's Tandem, one region per process, built from the app settings. */
  static final class App {
    final TandemAppSettings settings;
    final TandemRegion region;
    final IdempotentHttp http;
    /** A follower's recheck copies, to this region's {@code orders} queue; null without one. */
    final ServiceBusSenderClient recheckSender;
    /** The heartbeat's probe of the trigger's namespace ({@code peekMessage}, a round trip). */
    final ServiceBusReceiverClient triggerReceiver;
    /** The heartbeat's probe of {@code KafkaBrokers}, when it is not this region's cluster. */
    final Admin triggerAdmin;

    App(TandemAppSettings s, ServiceBusSenderClient recheck) {
      settings = s;
      AppInsightsMetrics.addTo(Metrics.globalRegistry, System.getenv()::get);
      region = s.region();
      http = IdempotentHttp.builder().region(region).build();
      String sb = s.optionalSetting(SERVICE_BUS).orElse(null);
      recheckSender = recheck != null || sb == null ? recheck : new ServiceBusClientBuilder()
          .connectionString(sb).sender().queueName(OrderFunctions.ORDERS_QUEUE).buildClient();
      triggerReceiver = sb == null ? null : new ServiceBusClientBuilder().connectionString(sb)
          .receiver().queueName(OrderFunctions.ORDERS_QUEUE)
          .receiveMode(ServiceBusReceiveMode.PEEK_LOCK).disableAutoComplete().buildClient();
      triggerAdmin = s.otherKafkaCluster(KAFKA_BROKERS).map(servers -> Admin.create(
          Map.<String, Object>of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, servers))).orElse(null);
    }

    TandemFunctions.Builder functions() {
      TandemFunctions.Builder b = TandemFunctions.builder()
          .region(region, region.kafkaDeadLetters("orders.tandem-dlq"))
          // warns at start-up if the Kafka function's copies would not survive a takeover
          .kafkaFunctions(settings.takeoverTime(), OrderFunctions.class);
      if (recheckSender != null) {
        b.recheckSender(recheckSender); // a follower parks its Service Bus copy, no abandon
      }
      // the heartbeat renews only while every trigger's broker answers (else the peer takes over)
      if (triggerAdmin != null) {
        b.triggerProbe(KafkaClusterProbe.of(
            settings.otherKafkaCluster(KAFKA_BROKERS).orElseThrow(), triggerAdmin));
      }
      if (triggerReceiver != null) {
        b.triggerProbe(ServiceBusNamespaceProbe.of(triggerReceiver));
      }
      return b;
    }

    void close() {
      region.close();
      for (AutoCloseable c : new AutoCloseable[] {recheckSender, triggerReceiver}) {
        if (c != null) {
          try {
            c.close();
          } catch (Exception e) {
            // closing at the end of the process or test: nothing to do
          }
        }
      }
      if (triggerAdmin != null) {
        triggerAdmin.close(Duration.ofSeconds(5));
      }
    }
  }

  static synchronized App app() {
    if (app == null) {
      app = new App(TandemAppSettings.fromEnvironment(), null);
    }
    return app;
  }

  /** Builds the app from given settings and recheck sender (tests; the host uses the environment). */
  static synchronized App start(Map<String, String> settings, Path localTemp,
      ServiceBusSenderClient recheck) {
    if (app != null) {
      throw new IllegalStateException("the Tandem app of this process is already built");
    }
    app = new App(TandemAppSettings.from(settings, localTemp), recheck);
    return app;
  }

  /** Closes the app (tests; the Functions host ends the process instead). */
  static synchronized void stop() {
    if (app != null) {
      app.close();
      app = null;
    }
  }
}
