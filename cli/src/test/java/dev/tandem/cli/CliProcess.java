package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the {@code tandem} command as an operator does: a separate JVM ({@link TandemCli}'s main on
 * this module's test class path), its exit code, standard output and standard error captured. The
 * one runner of {@link TandemCliTest} and {@link TandemCliEvacuateTest}.
 */
final class CliProcess {

  private static final ObjectMapper JSON = new ObjectMapper();

  private CliProcess() {}

  /** A finished command: exit code, standard output, standard error, and its wall time. */
  record Run(int code, String out, String err, long millis) {
    JsonNode json() throws Exception {
      return JSON.readTree(out);
    }
  }

  /**
   * {@code tandem args...} in a new JVM (C1 only, serial GC, class-data sharing: a short-lived
   * command starts fastest so); its output files go to {@code dir}. Fails the test if it has not
   * ended in 120 s. Prints the command, its exit code, time and output (the test's report).
   */
  static Run tandem(Path dir, List<String> args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(
        System.getProperty("java.home") + File.separator + "bin" + File.separator + "java",
        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto",
        "-cp", System.getProperty("java.class.path"), TandemCli.class.getName()));
    cmd.addAll(args);
    Path out = Files.createTempFile(dir, "out", ".txt");
    Path err = Files.createTempFile(dir, "err", ".txt");
    long t0 = System.nanoTime();
    Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile())
        .start();
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("tandem " + String.join(" ", args) + " did not end in 120 s");
    }
    Run r = new Run(p.exitValue(), Files.readString(out), Files.readString(err),
        (System.nanoTime() - t0) / 1_000_000);
    System.out.printf("$ tandem %s   (exit %d, %d ms)%n%s%s%n", String.join(" ", args), r.code(),
        r.millis(), r.out(), r.err().isBlank() ? "" : "stderr: " + r.err());
    return r;
  }
}
