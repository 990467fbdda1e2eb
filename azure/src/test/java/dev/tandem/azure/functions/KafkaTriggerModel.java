package dev.tandem.azure.functions;

import dev.tandem.consumer.MessageHandler;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One partition of a Kafka-triggered function as the Azure Functions Kafka extension runs it, with
 * the host's function-level retry policy — modelled on the extension's {@code
 * SingleItemFunctionExecutor.ProcessPartitionItemsAsync} (Azure/azure-functions-kafka-extension):
 *
 * <ul>
 *   <li>records of a partition are invoked one at a time, in order;
 *   <li>one invocation ({@code TryExecuteAsync}) runs the function under the retry policy: a failure
 *       is retried after {@code delay}, {@code maxRetryCount} times ({@code -1}: indefinitely);
 *   <li>then, {@link Commit#ALWAYS} (before 4.3.0; from 4.3.0 with {@code commitOnFailure: true},
 *       the default): the offset is committed past the record whatever the result;
 *       {@link Commit#ON_SUCCESS} (4.3.0+, {@code commitOnFailure: false}): a failed invocation is
 *       invoked again at once, and after {@code maxRetries} failed invocations ({@code -1}: never)
 *       the offset is force-committed past it.
 * </ul>
 *
 * A record committed past after a failed invocation is never delivered again: {@link #dropped}.
 */
final class KafkaTriggerModel implements AutoCloseable {

  /** What the extension does with the offset of a failed invocation. */
  enum Commit { ALWAYS, ON_SUCCESS }

  /** The function's retry policy ({@code @FixedDelayRetry}); {@link #NONE} for none. */
  record Policy(int maxRetryCount, Duration delay) {
    static final Policy NONE = new Policy(0, Duration.ZERO);
  }

  /** A record of the partition: the Tandem id, its headers (envelope), its value. */
  record Record(String id, Map<String, String> headers, byte[] payload) {}

  final String name;
  /** Ids whose offset was committed after a successful invocation. */
  final List<String> committed = new CopyOnWriteArrayList<>();
  /** Ids whose offset was committed past a failed invocation: never delivered again. */
  final List<String> dropped = new CopyOnWriteArrayList<>();
  /** Function runs (each attempt of the retry policy) per id. */
  final Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
  /** Failed invocations (each after its retry policy gave up) per id. */
  final Map<String, AtomicInteger> failedInvocations = new ConcurrentHashMap<>();

  private final TandemFunctions functions;
  private final MessageHandler handler;
  private final Commit commit;
  private final int maxRetries;
  private final Policy policy;
  private final LinkedBlockingQueue<Record> partition = new LinkedBlockingQueue<>();
  private final CountDownLatch closed = new CountDownLatch(1);
  private final Thread reader;

  KafkaTriggerModel(String name, TandemFunctions functions, MessageHandler handler, Commit commit,
      int maxRetries, Policy policy) {
    this.name = name;
    this.functions = functions;
    this.handler = handler;
    this.commit = commit;
    this.maxRetries = maxRetries;
    this.policy = policy;
    this.reader = new Thread(this::readPartition, name + "-partition-0");
    reader.setDaemon(true);
    reader.start();
  }

  void deliver(Record r) {
    partition.add(r);
  }

  private void readPartition() {
    try {
      while (closed.getCount() > 0) {
        Record r = partition.poll(100, TimeUnit.MILLISECONDS);
        if (r != null) {
          process(r);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** One record until its offset is committed (the extension's {@code while (!committed)} loop). */
  private void process(Record r) throws InterruptedException {
    int failures = 0;
    while (closed.getCount() > 0) {
      if (invoke(r)) {
        committed.add(r.id());
        return;
      }
      failedInvocations.computeIfAbsent(r.id(), k -> new AtomicInteger()).incrementAndGet();
      if (commit == Commit.ALWAYS) {
        dropped.add(r.id()); // committed regardless of the result
        return;
      }
      failures++;
      if (maxRetries >= 0 && failures > maxRetries) {
        dropped.add(r.id()); // "max retries exceeded, force-commit to skip"
        return;
      }
      // else "retried in-place": invoked again at once
    }
  }

  /** One {@code TryExecuteAsync}: the function under the retry policy; true when it succeeded. */
  private boolean invoke(Record r) throws InterruptedException {
    int retries = 0;
    while (true) {
      attempts.computeIfAbsent(r.id(), k -> new AtomicInteger()).incrementAndGet();
      try {
        functions.once(r.headers()::get, r.payload(), 1, handler);
        return true;
      } catch (RuntimeException e) { // RetryLaterException, a store exception, the handler's own
        if (policy.maxRetryCount() >= 0 && retries >= policy.maxRetryCount()) {
          return false;
        }
        retries++;
        // the policy's delay (the host waits before the next attempt); ends early on close
        if (closed.await(policy.delay().toMillis(), TimeUnit.MILLISECONDS)) {
          return false;
        }
      }
    }
  }

  int attemptsOf(String id) {
    AtomicInteger n = attempts.get(id);
    return n == null ? 0 : n.get();
  }

  int failedInvocationsOf(String id) {
    AtomicInteger n = failedInvocations.get(id);
    return n == null ? 0 : n.get();
  }

  @Override
  public void close() throws InterruptedException {
    closed.countDown();
    reader.join(30_000);
  }
}
