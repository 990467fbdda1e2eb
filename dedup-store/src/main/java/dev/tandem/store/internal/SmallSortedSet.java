package dev.tandem.store.internal;

import java.util.AbstractSet;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * An immutable sorted set (natural order) held in one sorted array: the representation of a record's
 * digests and completers, which hold one element almost always and a few at most. Equal to any
 * {@link java.util.Set} with the same elements (the {@link java.util.Set} contract), with the same
 * hash code and iteration order as a {@link TreeSet} of them; the views ({@link #subSet} and the
 * like) are copies, which is the same thing for an immutable set.
 *
 * <p>Why not a {@code TreeSet}: the claim+complete profile (issue 20) showed the TreeSet/TreeMap of
 * each record's sets, and their unmodifiable wrappers, as a large share of the allocation; one
 * element costs here one small array and this object.
 *
 * @param <T> the element type, naturally ordered consistently with equals
 */
public final class SmallSortedSet<T extends Comparable<? super T>> extends AbstractSet<T>
    implements SortedSet<T> {

  private final Object[] elements; // sorted, distinct, non-null

  @SuppressWarnings("rawtypes")
  private static final SmallSortedSet EMPTY = new SmallSortedSet<>(new Object[0]);

  private SmallSortedSet(Object[] elements) {
    this.elements = elements;
  }

  /**
   * The empty set (one shared instance; unlike {@link Collections#emptySortedSet}, iterating it
   * allocates nothing).
   */
  @SuppressWarnings("unchecked")
  public static <T extends Comparable<? super T>> SortedSet<T> empty() {
    return EMPTY;
  }

  /**
   * The {@code i}-th element in order: the encoder and the record's checks walk the set by index,
   * without an iterator object.
   */
  @SuppressWarnings("unchecked")
  public T get(int i) {
    return (T) elements[i];
  }

  /** The set of one element. */
  public static <T extends Comparable<? super T>> SortedSet<T> of(T element) {
    return new SmallSortedSet<>(new Object[] {Objects.requireNonNull(element, "set element")});
  }

  /**
   * An immutable sorted copy of {@code in} (returned as is if it is one already); empty for
   * {@code null}.
   *
   * @throws NullPointerException if an element is null
   */
  public static <T extends Comparable<? super T>> SortedSet<T> copyOf(Collection<T> in) {
    if (in == null || in.isEmpty()) {
      return empty();
    }
    if (in instanceof SmallSortedSet<T> already) {
      return already;
    }
    Object[] a = in.toArray();
    for (Object o : a) {
      Objects.requireNonNull(o, "set element");
    }
    if (!(in instanceof SortedSet<T> s && s.comparator() == null)) {
      Arrays.sort(a); // natural order; a sorted set of natural order is sorted and distinct already
      int m = a.length == 0 ? 0 : 1;
      for (int i = 1; i < a.length; i++) {
        if (compare(a[i], a[m - 1]) != 0) {
          a[m++] = a[i];
        }
      }
      a = m == a.length ? a : Arrays.copyOf(a, m);
    }
    return new SmallSortedSet<>(a);
  }

  /** The union of two immutable sorted copies (made with {@link #copyOf}), merged in one pass. */
  public static <T extends Comparable<? super T>> SortedSet<T> union(SortedSet<T> a, SortedSet<T> b) {
    Object[] x = ((SmallSortedSet<T>) copyOfNonEmpty(a)).elements;
    Object[] y = ((SmallSortedSet<T>) copyOfNonEmpty(b)).elements;
    Object[] out = new Object[x.length + y.length];
    int i = 0;
    int j = 0;
    int n = 0;
    while (i < x.length && j < y.length) {
      int c = compare(x[i], y[j]);
      if (c < 0) {
        out[n++] = x[i++];
      } else if (c > 0) {
        out[n++] = y[j++];
      } else {
        out[n++] = x[i++];
        j++;
      }
    }
    while (i < x.length) {
      out[n++] = x[i++];
    }
    while (j < y.length) {
      out[n++] = y[j++];
    }
    return new SmallSortedSet<>(n == out.length ? out : Arrays.copyOf(out, n));
  }

  private static <T extends Comparable<? super T>> SortedSet<T> copyOfNonEmpty(SortedSet<T> s) {
    return s instanceof SmallSortedSet<T> ? s : new SmallSortedSet<>(copyArray(s));
  }

  private static <T extends Comparable<? super T>> Object[] copyArray(SortedSet<T> s) {
    SortedSet<T> c = copyOf(s);
    return c instanceof SmallSortedSet<T> small ? small.elements : new Object[0];
  }

  @SuppressWarnings("unchecked")
  private static int compare(Object a, Object b) {
    return ((Comparable<Object>) a).compareTo(b);
  }

  @Override
  public int size() {
    return elements.length;
  }

  @Override
  public boolean contains(Object o) {
    if (o == null) {
      return false;
    }
    for (Object e : elements) { // a handful at most: a scan beats a search
      if (e.equals(o)) {
        return true;
      }
    }
    return false;
  }

  @Override
  @SuppressWarnings("unchecked")
  public Iterator<T> iterator() {
    if (elements.length == 0) {
      return Collections.emptyIterator();
    }
    return new Iterator<>() {
      private int next;

      @Override
      public boolean hasNext() {
        return next < elements.length;
      }

      @Override
      public T next() {
        if (next >= elements.length) {
          throw new NoSuchElementException();
        }
        return (T) elements[next++];
      }
    };
  }

  @Override
  public Object[] toArray() {
    return elements.clone();
  }

  @Override
  public Comparator<? super T> comparator() {
    return null; // natural order
  }

  @Override
  @SuppressWarnings("unchecked")
  public T first() {
    if (elements.length == 0) {
      throw new NoSuchElementException();
    }
    return (T) elements[0];
  }

  @Override
  @SuppressWarnings("unchecked")
  public T last() {
    if (elements.length == 0) {
      throw new NoSuchElementException();
    }
    return (T) elements[elements.length - 1];
  }

  @Override
  public SortedSet<T> subSet(T fromElement, T toElement) {
    return Collections.unmodifiableSortedSet(new TreeSet<>(this).subSet(fromElement, toElement));
  }

  @Override
  public SortedSet<T> headSet(T toElement) {
    return Collections.unmodifiableSortedSet(new TreeSet<>(this).headSet(toElement));
  }

  @Override
  public SortedSet<T> tailSet(T fromElement) {
    return Collections.unmodifiableSortedSet(new TreeSet<>(this).tailSet(fromElement));
  }
}
