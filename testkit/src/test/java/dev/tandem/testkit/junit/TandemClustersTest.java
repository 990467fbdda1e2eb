package dev.tandem.testkit.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.testkit.TestRegions;
import dev.tandem.testkit.TwoRegions;
import java.util.Set;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** The extension injects one JVM-wide pair into shared classes and a pair of its own otherwise. */
class TandemClustersTest {

  static TwoRegions firstShared;

  @TandemClusters
  @Nested
  class Shared {

    TwoRegions regions;

    @Test
    void fieldsAndParametersGetTheSameRunningPair(TwoRegions parameter) {
      assertSame(regions, parameter);
      assertTrue(regions.a().isBrokerUp() && regions.b().isBrokerUp());
      assertEquals(TestRegions.A.name(), regions.a().name());
      assertEquals(TestRegions.B.name(), regions.b().name());
      if (firstShared == null) {
        firstShared = regions;
      }
      assertSame(firstShared, regions, "one pair per JVM");
    }

    @Test
    void freshTopicsNeverRepeat(@FreshTopic("orders") String one, @FreshTopic("orders") String two,
        @FreshTopic String three) {
      assertNotEquals(one, two);
      assertTrue(one.startsWith("orders-"), one);
      assertTrue(three.startsWith("freshTopicsNeverRepeat-"), three);
      assertEquals(3, Set.of(one, two, three).size());
    }

    @Nested
    class Inner {
      @Test
      void aNestedClassTakesTheEnclosingSetting(TwoRegions parameter) {
        assertSame(regions, parameter, "the enclosing shared class's pair");
      }
    }
  }

  @TandemClusters
  @Nested
  class AlsoShared {
    @Test
    void getsTheSamePair(TwoRegions regions) {
      if (firstShared == null) {
        firstShared = regions;
      }
      assertSame(firstShared, regions, "one pair per JVM");
    }
  }

  @TandemClusters(shared = false)
  @Nested
  class Isolated {

    static TwoRegions own;

    @Test
    void aClassThatStopsABrokerGetsItsOwnPair(TwoRegions regions) {
      assertSame(own, regions, "the static field and the parameter: the class's one pair");
      assertNotSame(firstShared, regions);
      regions.b().stopBroker();
      assertTrue(!regions.b().isBrokerUp());
    }
  }
}
