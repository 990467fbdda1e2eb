package dev.tandem.store.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Set;
import org.junit.jupiter.api.Test;

/** Detected-duplicate counts per (bucket, shard): shard drops and bucket drops take theirs. */
class DetectedCountsTest {

  @Test
  void dropsTakeTheirCountsFromTheTotal() {
    DetectedCounts c = new DetectedCounts();
    c.add(100, 0, 2);
    c.add(100, 1, 1);
    c.add(200, 0, 3);
    assertEquals(6, c.total());
    assertEquals(Set.of(0, 1), c.shardsOf(100));
    c.forgetShard(0);
    assertEquals(1, c.total());
    c.forgetBucket(100);
    assertEquals(0, c.total());
    assertEquals(Set.of(), c.shardsOf(100));
    c.add(200, 0, -0);
    assertEquals(0, c.totalHolder().get());
  }
}
