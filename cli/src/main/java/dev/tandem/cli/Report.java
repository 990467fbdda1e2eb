package dev.tandem.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a command answers: a few named figures and a table of rows (one per shard, per dead letter
 * ...), printed as text (figures, then an aligned table) or as one JSON object (the figures, and the
 * rows under {@code rowsName}). Notes (text only: what a figure means, where it is not known here)
 * go after the table; in JSON they are the {@code notes} list.
 */
final class Report {

  final Map<String, Object> figures = new LinkedHashMap<>();
  final String rowsName;
  final List<Map<String, Object>> rows = new ArrayList<>();
  final List<String> notes = new ArrayList<>();

  Report(String rowsName) {
    this.rowsName = rowsName;
  }

  Report figure(String name, Object value) {
    figures.put(name, value);
    return this;
  }

  Map<String, Object> row() {
    Map<String, Object> r = new LinkedHashMap<>();
    rows.add(r);
    return r;
  }

  Report note(String note) {
    notes.add(note);
    return this;
  }

  void print(TandemCli.Format format, PrintWriter out) {
    if (format == TandemCli.Format.json) {
      Map<String, Object> all = new LinkedHashMap<>();
      figures.forEach((k, v) -> all.put(jsonKey(k), v));
      List<Map<String, Object>> jsonRows = new ArrayList<>();
      for (Map<String, Object> r : rows) {
        Map<String, Object> j = new LinkedHashMap<>();
        r.forEach((k, v) -> j.put(jsonKey(k), v));
        jsonRows.add(j);
      }
      all.put(rowsName, jsonRows);
      all.put("notes", notes);
      out.println(Json.write(all));
    } else {
      figures.forEach((k, v) -> out.println(k + ": " + text(v)));
      if (!rows.isEmpty()) {
        out.println();
        table(out);
      } else {
        out.println(rowsName + ": none");
      }
      if (!notes.isEmpty()) {
        out.println();
        notes.forEach(n -> out.println("note: " + n));
      }
    }
    out.flush();
  }

  private void table(PrintWriter out) {
    List<String> cols = new ArrayList<>();
    for (Map<String, Object> r : rows) {
      for (String k : r.keySet()) {
        if (!cols.contains(k)) {
          cols.add(k);
        }
      }
    }
    int[] w = new int[cols.size()];
    for (int i = 0; i < cols.size(); i++) {
      w[i] = cols.get(i).length();
      for (Map<String, Object> r : rows) {
        w[i] = Math.max(w[i], text(r.get(cols.get(i))).length());
      }
    }
    StringBuilder h = new StringBuilder();
    for (int i = 0; i < cols.size(); i++) {
      h.append(pad(cols.get(i), w[i], i == cols.size() - 1));
    }
    out.println(h.toString().stripTrailing());
    for (Map<String, Object> r : rows) {
      StringBuilder b = new StringBuilder();
      for (int i = 0; i < cols.size(); i++) {
        b.append(pad(text(r.get(cols.get(i))), w[i], i == cols.size() - 1));
      }
      out.println(b.toString().stripTrailing());
    }
  }

  private static String pad(String s, int width, boolean last) {
    return last ? s : s + " ".repeat(width - s.length() + 2);
  }

  /**
   * The JSON name of a figure or column: its text label without a parenthesised remark, words joined
   * by {@code _} ({@code "detected duplicates"} → {@code detected_duplicates}), so {@code jq
   * .detected_duplicates} works.
   */
  static String jsonKey(String label) {
    int paren = label.indexOf(" (");
    String k = paren < 0 ? label : label.substring(0, paren);
    return k.trim().replace(' ', '_');
  }

  static String text(Object v) {
    if (v == null) {
      return "-";
    }
    if (v instanceof Map<?, ?> m) {
      StringBuilder b = new StringBuilder();
      m.forEach((k, x) -> b.append(b.length() == 0 ? "" : ", ").append(k).append('=').append(text(x)));
      return b.toString();
    }
    if (v instanceof List<?> l) {
      StringBuilder b = new StringBuilder();
      l.forEach(x -> b.append(b.length() == 0 ? "" : ", ").append(text(x)));
      return b.toString();
    }
    return v.toString();
  }
}
