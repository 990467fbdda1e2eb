package dev.tandem.testkit;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs Kafka regions in a process of their own, so a benchmark or a demo does not count the brokers'
 * CPU as its own. Arguments: region names (default {@code region-a region-b}). Prints
 * {@code REGION <name> <bootstrap>} per region, then {@code READY}. Reads commands on standard input:
 * {@code stop <name>}, {@code start <name>}, {@code topic <name|*> <topic> <partitions>}; each answered
 * with {@code OK <command>} or {@code ERR <message>}. Exits when standard input closes.
 */
public final class RegionsMain {

  private RegionsMain() {}

  public static void main(String[] args) throws Exception {
    List<String> names = args.length == 0 ? List.of("region-a", "region-b") : List.of(args);
    Map<String, KafkaRegion> regions = new LinkedHashMap<>();
    List<Thread> starters = new ArrayList<>();
    for (String n : names) {
      Thread t = new Thread(() -> {
        KafkaRegion r = KafkaRegion.start(n);
        synchronized (regions) {
          regions.put(n, r);
        }
      });
      t.start();
      starters.add(t);
    }
    for (Thread t : starters) {
      t.join();
    }
    if (regions.size() != names.size()) {
      System.out.println("ERR some regions did not start");
      System.exit(1);
    }
    for (String n : names) {
      System.out.println("REGION " + n + " " + regions.get(n).bootstrapServers());
    }
    System.out.println("READY");
    System.out.flush();
    try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        String[] p = line.trim().split("\\s+");
        try {
          switch (p[0]) {
            case "stop" -> regions.get(p[1]).stopBroker();
            case "start" -> regions.get(p[1]).startBroker();
            case "topic" -> {
              for (KafkaRegion r : regions.values()) {
                if (p[1].equals("*") || p[1].equals(r.name())) {
                  r.createTopic(p[2], Integer.parseInt(p[3]));
                }
              }
            }
            default -> throw new IllegalArgumentException("unknown command " + p[0]);
          }
          System.out.println("OK " + line.trim());
        } catch (RuntimeException e) {
          System.out.println("ERR " + e);
        }
        System.out.flush();
      }
    } finally {
      for (KafkaRegion r : regions.values()) {
        r.close();
      }
    }
  }
}
