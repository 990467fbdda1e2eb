package dev.tandem.store;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Iterator;

/**
 * Two counts (hits and misses of the terminal cache) kept per thread: each thread increments its own
 * cell with a plain (opaque) store, so a count costs no atomic instruction and no cache line moves
 * between threads that check at once (a shared {@code LongAdder} costs a CAS per count, and its base
 * is contended at two threads). Reads sum the cells; they are rare (a stats call, a meter scrape).
 *
 * <p>Exact: a cell has one writer, its thread. A cell of a thread that ended is folded into the
 * retired totals (under the monitor, when a new thread registers or a read sums), so a pool that
 * replaces threads does not grow the list; the fold and the sum exclude each other, so a sum never
 * counts a cell twice and never goes down.
 */
final class PerThreadCounts {

  private static final VarHandle HITS;
  private static final VarHandle MISSES;

  static {
    try {
      MethodHandles.Lookup l = MethodHandles.lookup();
      HITS = l.findVarHandle(Cell.class, "hits", long.class);
      MISSES = l.findVarHandle(Cell.class, "misses", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /** One thread's counts; static, so a thread's map does not keep the counts' owner alive. */
  static final class Cell {
    private final WeakReference<Thread> owner;
    @SuppressWarnings("unused") private long hits; // written by the owner only, via HITS
    @SuppressWarnings("unused") private long misses;

    Cell(Thread owner) {
      this.owner = new WeakReference<>(owner);
    }

    boolean retired() {
      Thread t = owner.get();
      return t == null || !t.isAlive(); // isAlive() false: the thread's writes are visible (JLS 17.4.4)
    }
  }

  private final ThreadLocal<Cell> mine = ThreadLocal.withInitial(this::register);
  private final ArrayList<Cell> cells = new ArrayList<>(); // guarded by this
  private long retiredHits; // guarded by this
  private long retiredMisses; // guarded by this

  void hit() {
    Cell c = mine.get();
    HITS.setOpaque(c, (long) HITS.getOpaque(c) + 1);
  }

  void miss() {
    Cell c = mine.get();
    MISSES.setOpaque(c, (long) MISSES.getOpaque(c) + 1);
  }

  private synchronized Cell register() {
    foldRetired();
    Cell c = new Cell(Thread.currentThread());
    cells.add(c);
    return c;
  }

  private void foldRetired() {
    for (Iterator<Cell> it = cells.iterator(); it.hasNext(); ) {
      Cell c = it.next();
      if (c.retired()) {
        retiredHits += (long) HITS.getVolatile(c);
        retiredMisses += (long) MISSES.getVolatile(c);
        it.remove();
      }
    }
  }

  /** {hits, misses} since this object was made. */
  synchronized long[] totals() {
    foldRetired();
    long h = retiredHits;
    long m = retiredMisses;
    for (Cell c : cells) {
      h += (long) HITS.getVolatile(c);
      m += (long) MISSES.getVolatile(c);
    }
    return new long[] {h, m};
  }

  /** Cells held (live threads that counted, plus ended ones not folded yet); for tests. */
  synchronized int cellCount() {
    return cells.size();
  }
}
