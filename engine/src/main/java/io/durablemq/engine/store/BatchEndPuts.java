package io.durablemq.engine.store;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One open batch's puts of records that are rewritten many times per batch (a session record
 * carrying its queue's counters, a shared body's reference count): only each key's last value is
 * kept, and it is put into the batch once, when the committer takes the batch
 * ({@link Committer#putOncePerBatch}). What the batch holds at its end is then exactly what it
 * held before, with one write per key instead of one per change.
 *
 * <p><b>Order.</b> A plain put, delete or range delete of the same key later in the batch drops
 * the pending value: it would otherwise be written after them and bring back a record the batch
 * deleted (a session discarded after its queue changed). A pending put made after a delete is
 * written after it, as it was appended.
 *
 * <p><b>Rollback.</b> Every change is journalled with the key's previous pending value, so an
 * operation's append that fails half way ({@link Committer}'s append of a {@link BatchOperation})
 * restores the pending values as they were when it started ({@link #mark()}, {@link #rollBackTo(int)}):
 * the values of the operations before it, which still commit, never the failed one's.
 *
 * <p>Not thread-safe: guarded by the committer's lock, like the rest of the open batch.
 */
final class BatchEndPuts {
    private final Map<Key, Pending> pending = new LinkedHashMap<>();
    /** Pending keys per column: a put or delete in a column with none skips the lookup. */
    private final int[] perColumn = new int[StoreColumn.values().length];
    /** Each change with the key's value before it (null: absent), for rollback; kept for the batch's life. */
    private final List<Undo> journal = new ArrayList<>();

    /** A key of one column, compared by content. */
    private record Key(StoreColumn column, byte[] bytes, int hash) {
        static Key of(StoreColumn column, byte[] bytes) {
            return new Key(column, bytes, 31 * column.hashCode() + Arrays.hashCode(bytes));
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.column == column && k.hash == hash && Arrays.equals(k.bytes, bytes);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /** A value to write at the batch's end; {@code fresh}: the key had no value before it (see {@link #put}). */
    private record Pending(byte[] value, boolean fresh) {
    }

    private record Undo(Key key, Pending previous) {
    }

    /** How many keys will be written when the batch is taken. */
    int size() {
        return pending.size();
    }

    boolean isEmpty() {
        return pending.isEmpty();
    }

    /**
     * The key's value to write at the batch's end, replacing any earlier one of this batch. Both
     * arrays are kept until then: the caller must not change them. {@code fresh}: the key has no
     * value in the store nor earlier in this batch (a queue entry's new sequence number), so a
     * delete of it later in the batch removes it without writing anything ({@link #drop}).
     */
    void put(StoreColumn column, byte[] key, byte[] value, boolean fresh) {
        Key k = Key.of(column, key);
        Pending previous = pending.put(k, new Pending(value, fresh));
        if (previous == null) {
            perColumn[column.ordinal()]++;
        }
        journal.add(new Undo(k, previous));
    }

    /**
     * A plain put or delete of the key follows in the batch: the pending value must not be written
     * after it. Returns true when the dropped value was {@code fresh}: the store holds nothing
     * under the key, so a delete need not be written at all.
     */
    boolean drop(StoreColumn column, byte[] key) {
        if (perColumn[column.ordinal()] == 0) {
            return false;
        }
        Key k = Key.of(column, key);
        Pending previous = pending.remove(k);
        if (previous == null) {
            return false;
        }
        perColumn[column.ordinal()]--;
        journal.add(new Undo(k, previous));
        return previous.fresh;
    }

    /** What {@link #dropFresh} found pending for a key. */
    enum Found {
        /** Nothing pending: a delete acts on what the store holds. */
        NONE,
        /** A fresh value ({@link Committer#putNew}), now dropped: the store holds nothing under the key, nothing need be written. */
        FRESH,
        /** A once-per-batch value ({@link Committer#putOncePerBatch}), left pending: the key is rewritten, not put once. */
        REWRITTEN
    }

    /**
     * For a SingleDelete ({@link Committer#singleDelete}), which is defined only for a key put once:
     * drops a fresh pending value (journalled like {@link #drop}, so a rolled-back operation gets it
     * back), but leaves a once-per-batch value where it is and says so, so that the caller can
     * refuse without having changed the batch.
     */
    Found dropFresh(StoreColumn column, byte[] key) {
        if (perColumn[column.ordinal()] == 0) {
            return Found.NONE;
        }
        Key k = Key.of(column, key);
        Pending previous = pending.get(k);
        if (previous == null) {
            return Found.NONE;
        }
        if (!previous.fresh) {
            return Found.REWRITTEN;
        }
        pending.remove(k);
        perColumn[column.ordinal()]--;
        journal.add(new Undo(k, previous));
        return Found.FRESH;
    }

    /** A range delete of [from, to) follows in the batch: pending values in it must not be written after it. */
    void dropRange(StoreColumn column, byte[] from, byte[] to) {
        if (perColumn[column.ordinal()] == 0) {
            return;
        }
        Iterator<Map.Entry<Key, Pending>> it = pending.entrySet().iterator();
        while (it.hasNext()) {
            Map.Entry<Key, Pending> e = it.next();
            Key k = e.getKey();
            if (k.column == column && Arrays.compareUnsigned(k.bytes, from) >= 0 && Arrays.compareUnsigned(k.bytes, to) < 0) {
                it.remove();
                perColumn[column.ordinal()]--;
                journal.add(new Undo(k, e.getValue()));
            }
        }
    }

    /** Where an operation starts; {@link #rollBackTo} with it undoes everything after. */
    int mark() {
        return journal.size();
    }

    /** Restores the pending values as they were at {@code mark}. */
    void rollBackTo(int mark) {
        for (int i = journal.size() - 1; i >= mark; i--) {
            Undo u = journal.get(i);
            Pending now = u.previous == null ? pending.remove(u.key) : pending.put(u.key, u.previous);
            if (now == null && u.previous != null) {
                perColumn[u.key.column.ordinal()]++;
            } else if (now != null && u.previous == null) {
                perColumn[u.key.column.ordinal()]--;
            }
        }
        journal.subList(mark, journal.size()).clear();
    }

    /** Hands each pending key's last value to {@code writer}, in first-put order. */
    void writeEach(Writer writer) {
        for (Map.Entry<Key, Pending> e : pending.entrySet()) {
            writer.put(e.getKey().column, e.getKey().bytes, e.getValue().value);
        }
    }

    interface Writer {
        void put(StoreColumn column, byte[] key, byte[] value);
    }
}
