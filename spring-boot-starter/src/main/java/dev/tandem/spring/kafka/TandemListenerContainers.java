package dev.tandem.spring.kafka;

import dev.tandem.consumer.TandemRegion;
import dev.tandem.consumer.TandemRegionConfig;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.function.BiFunction;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.DirectFieldAccessor;
import org.springframework.kafka.config.ConcurrentKafkaListenerContainerFactory;
import org.springframework.kafka.config.ContainerCustomizer;
import org.springframework.kafka.core.ConsumerFactory;
import org.springframework.kafka.core.DefaultKafkaConsumerFactory;
import org.springframework.kafka.listener.AcknowledgingConsumerAwareMessageListener;
import org.springframework.kafka.listener.BatchAcknowledgingConsumerAwareMessageListener;
import org.springframework.kafka.listener.BatchListenerFailedException;
import org.springframework.kafka.listener.BatchMessageListener;
import org.springframework.kafka.listener.CommonErrorHandler;
import org.springframework.kafka.listener.ConcurrentMessageListenerContainer;
import org.springframework.kafka.listener.ContainerProperties;
import org.springframework.kafka.listener.ContainerProperties.AckMode;
import org.springframework.kafka.listener.DefaultErrorHandler;
import org.springframework.kafka.listener.GenericMessageListener;
import org.springframework.kafka.listener.ListenerUtils;
import org.springframework.kafka.support.Acknowledgment;
import org.springframework.util.backoff.BackOff;
import org.springframework.util.backoff.FixedBackOff;

/**
 * Gives the {@code @KafkaListener} methods of a Spring Kafka container factory the guarantee of
 * {@code TandemKafkaConsumer}, word for word:
 *
 * <ul>
 *   <li>a record of a shard this region owns is claimed, the listener runs, the id is completed, and
 *       the container acknowledges (commits) the record only after the completion is acknowledged by
 *       this region's changelog; a completed id is skipped without the listener (counted);
 *   <li>a record of a shard the other region owns is never acknowledged before its id is completed
 *       somewhere: it is held (delivered again after a short back-off, from the same offset) until
 *       the owner's completion has replicated here, or this region took the shard over after the
 *       lease and margin (the takeover's duplicate bound is reported);
 *   <li>a listener exception releases the claim; the record is delivered again and dead-lettered
 *       (to {@code <topic>.tandem-dlq} in this region) after {@code tandem.store.max.attempts}; no offset
 *       is committed past it before that.
 * </ul>
 *
 * <p>Mechanism (Spring Kafka 4.0): the container's message listener is wrapped (a container
 * customizer) so that the region's {@code OnceProcessor} runs it; held records and records to run
 * again are thrown as {@link HeldRecordException} / {@link TandemRetryException} to a {@link
 * DefaultErrorHandler} that seeks the partition back to them and delivers them again after a
 * per-exception back-off (a held record's ends when its completion applies, {@link
 * HeldRecordRelease}), never recovering (skipping) them; the factory's deserializers are wrapped
 * to keep the serialized bytes the envelope digest is over. The lease ticker runs in the region's
 * {@link TandemListenerSupport} ({@link #support}).
 *
 * <p>Refused at {@link #apply} or when a container is created, with an {@link IllegalStateException}
 * naming the setting: {@code enable.auto.commit=true}; an {@code AckMode} of {@code MANUAL} or
 * {@code MANUAL_IMMEDIATE} (or async acks); a transaction manager; an error handler of the user's
 * on the factory or the container; a consumer factory other than {@link DefaultKafkaConsumerFactory};
 * {@code tandem.store.shards=assigned}; a batch listener that wants the whole {@code
 * ConsumerRecords}; {@code allow.auto.create.topics=true} (set to {@code false} when absent, as
 * {@code TandemRegion.kafkaConsumer} does).
 */
public final class TandemListenerContainers {

  private static final Logger log = LoggerFactory.getLogger(TandemListenerContainers.class);
  private static final Map<TandemRegion, TandemListenerSupport> SUPPORTS = new IdentityHashMap<>();

  private TandemListenerContainers() {
  }

  /**
   * The region's listener support (made on first use, one per region): the processor, the holding
   * of follower records and the lease ticker. Register it as a bean ({@link AutoCloseable}) so the
   * application context closes it after the listener containers stop and before the region closes.
   */
  public static synchronized TandemListenerSupport support(TandemRegion region) {
    Objects.requireNonNull(region, "region");
    return SUPPORTS.computeIfAbsent(region, TandemListenerSupport::new);
  }

  static synchronized void forget(TandemListenerSupport support) {
    SUPPORTS.remove(support.region(), support);
  }

  /**
   * Installs on {@code factory} everything the guarantee needs (the listener wrapper for record and
   * batch listeners, the error handler for held records and failures, the deserializer wrapper)
   * after checking the factory's settings; the containers it creates from now on run under it.
   *
   * @throws IllegalStateException naming the offending setting when the factory is configured in a
   *     way that would break the guarantee (see the class doc)
   */
  public static <K, V> void apply(ConcurrentKafkaListenerContainerFactory<K, V> factory,
      TandemRegion region) {
    Objects.requireNonNull(factory, "factory");
    Objects.requireNonNull(region, "region");
    DefaultKafkaConsumerFactory<?, ?> dkcf = checkFactory(factory);
    if (!region.config().allShards()) {
      throw new IllegalStateException(TandemRegionConfig.STORE_SHARDS_CONFIG + "=assigned is not "
          + "supported for Spring listeners (the containers do not hand their assignments to the "
          + "replica); use " + TandemRegionConfig.STORE_SHARDS_CONFIG + "=all");
    }
    DirectFieldAccessor fields = new DirectFieldAccessor(factory);
    wrapDeserializers(dkcf);
    noAutoCreate(dkcf);
    TandemListenerSupport support = support(region);
    gateCommits(dkcf, support);
    Object installed = fields.getPropertyValue("commonErrorHandler");
    TandemErrorHandler errors = installed instanceof TandemErrorHandler e ? e
        : new TandemErrorHandler(support.holdRelease());
    factory.setCommonErrorHandler(errors);
    @SuppressWarnings("unchecked")
    ContainerCustomizer<K, V, ConcurrentMessageListenerContainer<K, V>> previous =
        (ContainerCustomizer<K, V, ConcurrentMessageListenerContainer<K, V>>)
            fields.getPropertyValue("containerCustomizer");
    if (previous instanceof TandemCustomizer<?, ?> t && t.support == support) {
      return; // applied before
    }
    factory.setContainerCustomizer(new TandemCustomizer<>(support, errors, previous));
    log.info("Tandem {}: listener containers of this factory run under the Tandem guarantee",
        region.region());
  }

  /**
   * The checks of {@link #apply} that need no region: the factory's error handler, AckMode,
   * transactions, auto commit and consumer factory.
   *
   * @return the factory's consumer factory
   * @throws IllegalStateException naming the offending setting
   */
  static DefaultKafkaConsumerFactory<?, ?> checkFactory(
      ConcurrentKafkaListenerContainerFactory<?, ?> factory) {
    Object handler = new DirectFieldAccessor(factory).getPropertyValue("commonErrorHandler");
    if (handler != null && !(handler instanceof TandemErrorHandler)) {
      throw new IllegalStateException("the listener container factory has a CommonErrorHandler ("
          + handler.getClass().getName() + "); Tandem installs its own, which never recovers "
          + "(skips and commits) a held record or one to retry: remove it (Tandem retries failed "
          + "records and dead-letters them after tandem.store.max.attempts)");
    }
    checkProperties(factory.getContainerProperties(), "the listener container factory");
    Object cf = factory.getConsumerFactory();
    if (!(cf instanceof DefaultKafkaConsumerFactory<?, ?> dkcf)) {
      throw new IllegalStateException("the listener container factory's consumer factory must be a "
          + "DefaultKafkaConsumerFactory (Tandem wraps its deserializers to keep the bytes the "
          + "message digest is over), not " + (cf == null ? "null" : cf.getClass().getName()));
    }
    checkAutoCommit(dkcf.getConfigurationProperties().get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG),
        "the consumer factory (spring.kafka.consumer.enable-auto-commit)");
    checkAutoCreate(dkcf.getConfigurationProperties().get(
        ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG), "the consumer factory "
        + "(spring.kafka.consumer.properties.allow.auto.create.topics)");
    return dkcf;
  }

  private static void checkProperties(ContainerProperties p, String where) {
    AckMode mode = p.getAckMode();
    if (mode == AckMode.MANUAL || mode == AckMode.MANUAL_IMMEDIATE) {
      throw new IllegalStateException("AckMode " + mode + " on " + where + " is not allowed with "
          + "Tandem (spring.kafka.listener.ack-mode): a listener would acknowledge records before "
          + "Tandem completes them and never the ones it skips or holds; use BATCH (the default) or "
          + "RECORD");
    }
    if (p.isAsyncAcks()) {
      throw new IllegalStateException("asyncAcks on " + where + " is not allowed with Tandem");
    }
    if (p.getTransactionManager() != null || p.getKafkaAwareTransactionManager() != null) {
      throw new IllegalStateException("a transaction manager on " + where + " is not supported by "
          + "Tandem: offsets sent to a transaction are committed outside Tandem's changelog barrier");
    }
    checkAutoCommit(p.getKafkaConsumerProperties().get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG),
        where + " (consumer properties)");
    checkAutoCreate(p.getKafkaConsumerProperties().get(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG),
        where + " (consumer properties)");
  }

  private static void checkAutoCreate(Object autoCreate, String where) {
    if (autoCreate != null && Boolean.parseBoolean(autoCreate.toString().trim())) {
      throw new IllegalStateException("allow.auto.create.topics=true on " + where + " is not allowed "
          + "with Tandem: a topic a consumer creates gets the broker's partition count, not "
          + "tandem.shards; create the topics in every region beforehand and remove it");
    }
  }

  private static void checkAutoCommit(Object autoCommit, String where) {
    if (autoCommit != null && Boolean.parseBoolean(autoCommit.toString().trim())) {
      throw new IllegalStateException("enable.auto.commit=true on " + where + " is not allowed with "
          + "Tandem: Kafka would commit offsets of records not completed (or held); remove it");
    }
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static void wrapDeserializers(DefaultKafkaConsumerFactory dkcf) {
    Deserializer<?> v = dkcf.getValueDeserializer();
    Deserializer<?> k = dkcf.getKeyDeserializer();
    Map<String, Object> cfg = dkcf.getConfigurationProperties();
    if (v != null) {
      if (!(v instanceof TandemCapturingDeserializer)) {
        dkcf.setValueDeserializer(new TandemCapturingDeserializer(v, false));
      }
    } else {
      Object cls = cfg.get(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG);
      if (!isCapturing(cls)) {
        dkcf.updateConfigs(Map.of(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
            TandemCapturingDeserializer.class, TandemCapturingDeserializer.DELEGATE_VALUE_CONFIG,
            Objects.requireNonNull(cls, "value.deserializer")));
      }
    }
    if (k != null) {
      if (!(k instanceof TandemCapturingDeserializer)) {
        dkcf.setKeyDeserializer(new TandemCapturingDeserializer(k, true));
      }
    } else {
      Object cls = cfg.get(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG);
      if (!isCapturing(cls)) {
        dkcf.updateConfigs(Map.of(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
            TandemCapturingDeserializer.class, TandemCapturingDeserializer.DELEGATE_KEY_CONFIG,
            Objects.requireNonNull(cls, "key.deserializer")));
      }
    }
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static void gateCommits(DefaultKafkaConsumerFactory dkcf, TandemListenerSupport support) {
    for (Object p : dkcf.getPostProcessors()) {
      if (p instanceof TandemCommitGate<?, ?> g) {
        if (g.support() != support) {
          throw new IllegalStateException("this consumer factory already serves another Tandem "
              + "region's listeners; give each region its own consumer factory");
        }
        return;
      }
    }
    dkcf.addPostProcessor(new TandemCommitGate<>(support));
  }

  /**
   * As {@code TandemRegion.kafkaConsumer}: the listener consumers never create a topic (Kafka's
   * consumer default is to, where the broker allows it). A topic created by a consumer gets the
   * broker's partition count, not {@code tandem.shards}; a missing topic is waited for instead (the
   * container logs it and has no partitions until it is created).
   */
  static void noAutoCreate(DefaultKafkaConsumerFactory<?, ?> dkcf) {
    if (!dkcf.getConfigurationProperties().containsKey(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG)) {
      dkcf.updateConfigs(Map.of(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false"));
    }
  }

  private static boolean isCapturing(Object cls) {
    return cls == TandemCapturingDeserializer.class
        || TandemCapturingDeserializer.class.getName().equals(String.valueOf(cls));
  }

  /** Checks each container's final settings and wraps its listener. */
  private static final class TandemCustomizer<K, V>
      implements ContainerCustomizer<K, V, ConcurrentMessageListenerContainer<K, V>> {
    final TandemListenerSupport support;
    final CommonErrorHandler errors;
    final ContainerCustomizer<K, V, ConcurrentMessageListenerContainer<K, V>> previous;

    TandemCustomizer(TandemListenerSupport support, CommonErrorHandler errors,
        ContainerCustomizer<K, V, ConcurrentMessageListenerContainer<K, V>> previous) {
      this.support = support;
      this.errors = errors;
      this.previous = previous;
    }

    @Override
    @SuppressWarnings("unchecked")
    public void configure(ConcurrentMessageListenerContainer<K, V> container) {
      if (previous != null) {
        previous.configure(container);
      }
      String where = "listener container " + container.getListenerId();
      if (!(container.getCommonErrorHandler() instanceof TandemErrorHandler)) {
        throw new IllegalStateException(where + " has another CommonErrorHandler ("
            + container.getCommonErrorHandler() + ") than Tandem's: it could recover (skip and "
            + "commit) a held record; remove it");
      }
      ContainerProperties p = container.getContainerProperties();
      checkProperties(p, where);
      // its assigned partitions are shards whose evacuate/return requests this region's ticker acts on
      support.serve(container);
      // the partitions it gives up take their held records with them (the application's own
      // rebalance listener is kept and called first)
      if (!(p.getConsumerRebalanceListener() instanceof TandemRebalanceListener)) {
        p.setConsumerRebalanceListener(
            new TandemRebalanceListener(support, p.getConsumerRebalanceListener()));
      }
      Object listener = p.getMessageListener();
      if (listener instanceof TandemRecordListener || listener instanceof TandemBatchListener) {
        return;
      }
      if (listener instanceof BatchMessageListener<?, ?> b) {
        if (b.wantsPollResult()) {
          throw new IllegalStateException(where + ": a batch listener that takes ConsumerRecords "
              + "is not supported by Tandem; take a List");
        }
        p.setMessageListener(new TandemBatchListener<K, V>(support,
            (GenericMessageListener<List<ConsumerRecord<K, V>>>) listener));
      } else if (listener instanceof GenericMessageListener<?> g) {
        p.setMessageListener(new TandemRecordListener<K, V>(support,
            (GenericMessageListener<ConsumerRecord<K, V>>) g));
      } else {
        throw new IllegalStateException(where + ": unknown message listener " + listener);
      }
    }
  }

  /** Calls a listener the way the container would, by its type. */
  private static <T> void invoke(GenericMessageListener<T> delegate, T data,
      Acknowledgment ack, Consumer<?, ?> consumer) {
    switch (ListenerUtils.determineListenerType(delegate)) {
      case ACKNOWLEDGING_CONSUMER_AWARE -> delegate.onMessage(data, ack, consumer);
      case CONSUMER_AWARE -> delegate.onMessage(data, consumer);
      case ACKNOWLEDGING -> delegate.onMessage(data, ack);
      case SIMPLE -> delegate.onMessage(data);
    }
  }

  /** The record listener under the guarantee: one record, one {@link TandemListenerSupport#handle}. */
  static final class TandemRecordListener<K, V>
      implements AcknowledgingConsumerAwareMessageListener<K, V> {
    private final TandemListenerSupport support;
    private final GenericMessageListener<ConsumerRecord<K, V>> delegate;

    TandemRecordListener(TandemListenerSupport support,
        GenericMessageListener<ConsumerRecord<K, V>> delegate) {
      this.support = support;
      this.delegate = delegate;
    }

    @Override
    public void onMessage(ConsumerRecord<K, V> data, Acknowledgment ack, Consumer<?, ?> consumer) {
      support.handle(data, () -> invoke(delegate, data, ack, consumer));
    }
  }

  /**
   * The batch listener under the guarantee: the records of a poll are handled in order, the listener
   * called with each record this region must run (a list of one); a record that is held or must run
   * again stops the batch with a {@link BatchListenerFailedException} at its index, so the records
   * before it are committed and it is sought back to and delivered again.
   */
  static final class TandemBatchListener<K, V>
      implements BatchAcknowledgingConsumerAwareMessageListener<K, V> {
    private final TandemListenerSupport support;
    private final GenericMessageListener<List<ConsumerRecord<K, V>>> delegate;

    TandemBatchListener(TandemListenerSupport support,
        GenericMessageListener<List<ConsumerRecord<K, V>>> delegate) {
      this.support = support;
      this.delegate = delegate;
    }

    @Override
    public void onMessage(List<ConsumerRecord<K, V>> data, Acknowledgment ack,
        Consumer<?, ?> consumer) {
      for (int i = 0; i < data.size(); i++) {
        ConsumerRecord<K, V> r = data.get(i);
        try {
          support.handle(r, () -> invoke(delegate, List.of(r), ack, consumer));
        } catch (HeldRecordException | TandemRetryException e) {
          throw new BatchListenerFailedException(e.getMessage(), e, i);
        }
      }
    }
  }

  /**
   * Seeks back to a held record or one to run again and delivers it after its back-off (a held
   * record's ended early by {@link HeldRecordRelease}), without limit: never recovers (skips and
   * commits) a record, whatever the exception. Records the listener
   * failed on are counted and dead-lettered by the processor itself, so nothing reaches a recoverer.
   */
  static final class TandemErrorHandler extends DefaultErrorHandler {
    /** {@code release}: the back-off wait, which a held record's completion ends early. */
    TandemErrorHandler(org.springframework.kafka.listener.BackOffHandler release) {
      super((record, e) -> {
        throw new IllegalStateException("Tandem never recovers a record here", e);
      }, new FixedBackOff(TandemListenerSupport.PROCESSING_RETRY_BACKOFF.toMillis(),
          FixedBackOff.UNLIMITED_ATTEMPTS), release);
      // every exception retried (none classified as fatal, e.g. a deserialization failure)
      setClassifications(Map.of(), true);
      setCommitRecovered(false);
      // a held record is redelivered every 200 ms until its owner completes it: not an error to log
      setLogLevel(org.springframework.kafka.KafkaException.Level.DEBUG);
      setBackOffFunction(backOffs());
    }

    private static BiFunction<ConsumerRecord<?, ?>, Exception, BackOff> backOffs() {
      return (record, e) -> {
        for (Throwable t = e; t != null; t = t.getCause()) {
          if (t instanceof HeldRecordException) {
            return new FixedBackOff(TandemListenerSupport.HOLD_RECHECK.toMillis(),
                FixedBackOff.UNLIMITED_ATTEMPTS);
          }
          if (t instanceof TandemRetryException r) {
            return new FixedBackOff(Math.max(10, r.after().toMillis()), FixedBackOff.UNLIMITED_ATTEMPTS);
          }
          if (t.getCause() == t) {
            break;
          }
        }
        return null;
      };
    }
  }

}
