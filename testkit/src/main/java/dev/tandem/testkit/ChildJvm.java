package dev.tandem.testkit;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A child JVM running a {@code main} class from the test class path, for crash tests: its standard
 * output is read line by line (so a test can wait for "acknowledged n" lines) and {@link #kill()}
 * sends SIGKILL — no shutdown hook, no flush, as a real crash.
 */
public final class ChildJvm implements AutoCloseable {

  private final Process process;
  private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
  private final List<String> all = java.util.Collections.synchronizedList(new ArrayList<>());

  private ChildJvm(Process process) {
    this.process = process;
    Thread reader =
        new Thread(
            () -> {
              try (BufferedReader r =
                  new BufferedReader(
                      new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                  all.add(line);
                  lines.add(line);
                }
              } catch (IOException ignored) {
                // the child was killed: its pipe closes under us
              }
            },
            "child-jvm-stdout");
    reader.setDaemon(true);
    reader.start();
  }

  /** Starts {@code mainClass} with {@code args} in a new JVM with this JVM's class path. */
  public static ChildJvm start(Class<?> mainClass, String... args) {
    return start(List.of("-Xmx512m", "-XX:TieredStopAtLevel=1"), mainClass, args);
  }

  /** As {@link #start(Class, String...)} with the given JVM options instead of the defaults. */
  public static ChildJvm start(List<String> jvmOptions, Class<?> mainClass, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
    cmd.addAll(jvmOptions);
    cmd.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(mainClass.getName());
    cmd.addAll(List.of(args));
    try {
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      return new ChildJvm(p);
    } catch (IOException e) {
      throw new IllegalStateException("could not start child JVM " + mainClass.getName(), e);
    }
  }

  /** Waits for (and consumes up to) the first output line matching {@code match}. */
  public String awaitLine(Predicate<String> match, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        throw new AssertionError("child JVM printed no matching line in " + timeout + "; output: " + all);
      }
      String line = lines.poll(left, TimeUnit.NANOSECONDS);
      if (line != null && match.test(line)) {
        return line;
      }
      if (line == null && !process.isAlive() && lines.isEmpty()) {
        throw new AssertionError("child JVM exited (" + process.exitValue() + "); output: " + all);
      }
    }
  }

  /** Writes one line to the child's standard input. */
  public void send(String line) {
    try {
      process.getOutputStream().write((line + "\n").getBytes(StandardCharsets.UTF_8));
      process.getOutputStream().flush();
    } catch (IOException e) {
      throw new IllegalStateException("child JVM does not take input", e);
    }
  }

  /** Every line printed so far. */
  public List<String> output() {
    synchronized (all) {
      return List.copyOf(all);
    }
  }

  /** SIGKILL: the child gets no chance to flush or run shutdown hooks. */
  public void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(30, TimeUnit.SECONDS);
  }

  /** Waits for a normal exit and returns the exit code. */
  public int awaitExit(Duration timeout) throws InterruptedException {
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new AssertionError("child JVM did not exit in " + timeout + "; output: " + all);
    }
    return process.exitValue();
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      kill();
    }
  }
}
