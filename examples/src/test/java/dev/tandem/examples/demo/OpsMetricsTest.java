package dev.tandem.examples.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Issue 21: the Grafana dashboard ({@code ops/grafana/tandem.json}) and the Prometheus alert rules
 * ({@code ops/prometheus/tandem-alerts.yml}) use only metrics and labels that exist. The two-region
 * demo runs with a Prometheus registry; its scrape is parsed and every metric name and label used
 * in the dashboard's PromQL and the rules' {@code expr} must be in it. The same run checks that the
 * demo ends with one report: nothing after its verdict and timing but the report itself. (It is
 * the fault-free case of {@link TwoRegionDemoTest}, which runs the faults.)
 */
class OpsMetricsTest {

  static final Path OPS = Path.of("..", "ops");
  static final Pattern SELECTOR = Pattern.compile("\\b(tandem_[a-zA-Z0-9_]+)\\s*(\\{([^}]*)\\})?");
  static final Pattern MATCHER = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!~|!=|=)");
  static final Pattern GROUPING = Pattern.compile("\\b(?:by|without)\\s*\\(([^)]*)\\)");
  static final Pattern JSON_EXPR = Pattern.compile("\"expr\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");
  static final Pattern YAML_EXPR = Pattern.compile("(?m)^\\s*expr:\\s*(.+)$");
  /** The label a {@code label_replace(v, "dst", "$1", ...)} makes: it exists in its result. */
  static final Pattern LABEL_MADE = Pattern.compile("label_replace\\(.*?\"([a-zA-Z_][a-zA-Z0-9_]*)\"\\s*,\\s*\"\\$\\d+\"");

  @Test
  void dashboardAndAlertRulesUseOnlyScrapedMetricsAndTheDemoEndsWithOneReport() throws Exception {
    PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    PrintStream out = System.out;
    PrintStream err = System.err;
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    PrintStream both = new PrintStream(console, true, StandardCharsets.UTF_8);
    DemoResult r;
    String[] scrape = new String[1];
    System.setOut(both);
    System.setErr(both);
    try {
      // the fault-free case of TwoRegionDemoTest, run here once with the registry
      r = TwoRegionDemo.run(
          new DemoOptions(1_500, 500, DemoOptions.Fault.NONE, DemoOptions.Policy.AUTOMATIC, 7, false),
          prometheus, () -> scrape[0] = prometheus.scrape()); // before the close removes meters
    } finally {
      System.setOut(out);
      System.setErr(err);
    }
    String printed = console.toString(StandardCharsets.UTF_8);
    out.print(printed);
    assertNull(r.violation(), r.resultLine());
    assertEquals(1_500, r.published(), "every send acknowledged");
    assertEquals(0, r.lost());
    assertEquals(0, r.duplicates());
    assertEquals(-1, r.takeoverMillis(), "no takeover without a fault");

    // one report, last: after its header only report lines (no step, no log line), verdict and took
    List<String> lines = printed.lines().toList();
    int header = lines.indexOf("Report");
    assertTrue(header >= 0, "a report is printed");
    assertEquals(header, lines.lastIndexOf("Report"), "one report");
    List<String> after = lines.subList(header + 1, lines.size());
    for (String l : after) {
      assertTrue(l.startsWith("  "), "only report lines after the report's header, found: " + l);
    }
    assertTrue(after.get(after.size() - 2).startsWith("  verdict"), "the verdict, then the time, end it");
    assertTrue(after.get(after.size() - 1).startsWith("  took"));

    // the scrape: metric name -> label names
    Map<String, Set<String>> scraped = new TreeMap<>();
    for (String line : scrape[0].split("\n")) {
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      Matcher m = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)\\})?\\s").matcher(line);
      if (!m.find()) {
        continue;
      }
      Set<String> labels = scraped.computeIfAbsent(m.group(1), k -> new TreeSet<>());
      if (m.group(3) != null) {
        Matcher lm = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"").matcher(m.group(3));
        while (lm.find()) {
          labels.add(lm.group(1));
        }
      }
    }

    List<String> exprs = new ArrayList<>();
    Matcher jm = JSON_EXPR.matcher(Files.readString(OPS.resolve("grafana/tandem.json")));
    while (jm.find()) {
      exprs.add(jm.group(1).replace("\\\"", "\""));
    }
    int dashboardExprs = exprs.size();
    Matcher ym = YAML_EXPR.matcher(Files.readString(OPS.resolve("prometheus/tandem-alerts.yml")));
    while (ym.find()) {
      exprs.add(ym.group(1).trim());
    }
    assertTrue(dashboardExprs >= 12 && exprs.size() > dashboardExprs, "expressions found: " + exprs);

    List<String> missing = new ArrayList<>();
    Set<String> used = new TreeSet<>();
    for (String e : exprs) {
      Set<String> inExpr = new TreeSet<>();
      Matcher sm = SELECTOR.matcher(e);
      while (sm.find()) {
        String name = sm.group(1);
        used.add(name);
        inExpr.add(name);
        Set<String> labels = scraped.get(name);
        if (labels == null) {
          missing.add("metric " + name + " (in: " + e + ")");
          continue;
        }
        if (sm.group(3) != null) {
          Matcher lm = MATCHER.matcher(sm.group(3));
          while (lm.find()) {
            if (!labels.contains(lm.group(1))) {
              missing.add("label " + lm.group(1) + " of " + name + " (has " + labels + ")");
            }
          }
        }
      }
      // grouping labels must exist on the expression's metrics (or be made by a label_replace)
      Set<String> made = new TreeSet<>();
      Matcher mm = LABEL_MADE.matcher(e);
      while (mm.find()) {
        made.add(mm.group(1));
      }
      Matcher gm = GROUPING.matcher(e);
      while (gm.find()) {
        for (String label : gm.group(1).split(",")) {
          String l = label.trim();
          if (l.isEmpty() || made.contains(l)) {
            continue;
          }
          for (String name : inExpr) {
            Set<String> labels = scraped.get(name);
            if (labels != null && !labels.contains(l)) {
              missing.add("label " + l + " of " + name + " grouped in: " + e);
            }
          }
        }
      }
    }
    out.println("ops: " + exprs.size() + " expressions (" + dashboardExprs + " in the dashboard), "
        + used.size() + " metrics, all checked against a scrape of " + scraped.size() + " series names");
    assertEquals(List.of(), missing, "every metric and label the dashboard and the rules use exists");
  }
}
