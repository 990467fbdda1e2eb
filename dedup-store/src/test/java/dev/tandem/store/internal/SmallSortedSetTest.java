package dev.tandem.store.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.SortedSet;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** SmallSortedSet behaves as an unmodifiable TreeSet of the same elements (issue 20). */
class SmallSortedSetTest {

  @Test
  void equalsHashesAndIteratesLikeATreeSet() {
    Random random = new Random(42);
    for (int round = 0; round < 500; round++) {
      List<Integer> in = new ArrayList<>();
      for (int i = random.nextInt(6); i > 0; i--) {
        in.add(random.nextInt(8));
      }
      TreeSet<Integer> tree = new TreeSet<>(in);
      SortedSet<Integer> small = SmallSortedSet.copyOf(in);
      assertEquals(tree, small);
      assertEquals(small, tree);
      assertEquals(tree.hashCode(), small.hashCode());
      assertEquals(new ArrayList<>(tree), new ArrayList<>(small), "iteration order");
      assertEquals(tree.toString(), small.toString());
      assertSame(small, SmallSortedSet.copyOf(small), "already one: not copied again");
      assertEquals(tree, SmallSortedSet.copyOf(tree), "from a sorted set");
      for (int e = 0; e < 8; e++) {
        assertEquals(tree.contains(e), small.contains(e));
      }
      if (!tree.isEmpty()) {
        assertEquals(tree.first(), small.first());
        assertEquals(tree.last(), small.last());
        assertEquals(tree.headSet(4), small.headSet(4));
        assertEquals(tree.tailSet(4), small.tailSet(4));
        assertEquals(tree.subSet(2, 6), small.subSet(2, 6));
      }
      List<Integer> other = new ArrayList<>();
      for (int i = random.nextInt(6); i > 0; i--) {
        other.add(random.nextInt(8));
      }
      SortedSet<Integer> otherSmall = SmallSortedSet.copyOf(other);
      if (!small.isEmpty() && !otherSmall.isEmpty()) {
        TreeSet<Integer> union = new TreeSet<>(tree);
        union.addAll(other);
        SortedSet<Integer> u = SmallSortedSet.union(small, otherSmall);
        assertEquals(union, u);
        assertEquals(new ArrayList<>(union), new ArrayList<>(u));
      }
    }
  }

  @Test
  void isImmutableAndRefusesNulls() {
    SortedSet<Integer> s = SmallSortedSet.copyOf(Arrays.asList(3, 1, 2));
    assertThrows(UnsupportedOperationException.class, () -> s.add(4));
    assertThrows(UnsupportedOperationException.class, () -> s.iterator().remove());
    assertThrows(NullPointerException.class, () -> SmallSortedSet.copyOf(Arrays.asList(1, null)));
    assertFalse(s.contains(null));
    assertTrue(SmallSortedSet.copyOf(null).isEmpty());
    assertFalse(SmallSortedSet.empty().iterator().hasNext());
  }
}
