package dev.tandem.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class HistoryTest {

  @Test
  void countsLostAndDuplicatesAndPlacesThemInFaultWindows() {
    History h = new History();
    for (String id : new String[] {"a", "b", "c", "d"}) {
      h.published(id);
    }
    h.handled("a", "region-a", "i1", 0);
    h.handled("a", "region-b", "i2", 0); // a duplicate with no fault open
    int w = h.beginFault("broker-a");
    h.handled("b", "region-a", "i1", 0);
    h.handled("b", "region-b", "i2", 1); // a duplicate inside the fault
    h.handled("b", "region-b", "i2", 1);
    h.endFault(w);
    h.handled("c", "region-b", "i2", 1);

    History.Report r = h.check(0);
    assertEquals(Set.of("d"), r.lost());
    assertEquals(3, r.processed());
    assertEquals(3, r.duplicates());
    assertEquals(Map.of("broker-a", 2), r.duplicatesByWindow());
    assertEquals(1, r.duplicatesOutsideFaults());
    assertEquals(Map.of("region-a", 2, "region-b", 4), r.runsByRegion());
  }
}
