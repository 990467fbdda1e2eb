package dev.tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The hand-written JSON of the command, read back by Jackson (on the test class path only). */
class JsonTest {

  @Test
  void flatRecordsWithEscapesRoundTripThroughAJsonParser() throws Exception {
    Map<String, Object> row = new LinkedHashMap<>();
    row.put("shard", 3);
    row.put("epoch", 12L);
    row.put("acknowledged", true);
    row.put("bound", null);
    row.put("lag", Double.NaN);
    row.put("detail", "quote \" backslash \\ newline \n tab \t bell \u0007 é");
    Map<String, Object> all = new LinkedHashMap<>();
    all.put("regions", Map.of("region-a", "reachable"));
    all.put("shards", List.of(row));
    String text = Json.write(all);

    JsonNode n = new ObjectMapper().readTree(text);
    JsonNode r = n.get("shards").get(0);
    assertEquals(3, r.get("shard").asInt());
    assertEquals(12L, r.get("epoch").asLong());
    assertEquals(true, r.get("acknowledged").asBoolean());
    assertEquals(true, r.get("bound").isNull());
    assertEquals(true, r.get("lag").isNull(), "NaN is not JSON: null");
    assertEquals(row.get("detail"), r.get("detail").asText());
    assertEquals("reachable", n.get("regions").get("region-a").asText());
    assertEquals(Arrays.asList("shard", "epoch", "acknowledged", "bound", "lag", "detail"),
        iterate(r), "keys in the order given");
  }

  @Test
  void jsonNamesAreTheLabelsWithoutRemarksJoinedByUnderscores() {
    assertEquals("detected_duplicates", Report.jsonKey("detected duplicates"));
    assertEquals("replication_lag", Report.jsonKey("replication lag (newest heartbeat read)"));
    assertEquals("shard", Report.jsonKey("shard"));
  }

  private static List<String> iterate(JsonNode r) {
    List<String> keys = new java.util.ArrayList<>();
    r.fieldNames().forEachRemaining(keys::add);
    return keys;
  }
}
