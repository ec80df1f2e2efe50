package io.durablemq.engine.delivery;

import java.util.function.LongConsumer;

/**
 * How many queue and in-flight entries reference each stored message body: an open-addressing
 * long-to-int map, so a million queued messages cost about 16 bytes each rather than the
 * ~80 of boxed maps. Rebuilt from the store on recovery; never stored itself.
 */
public final class RefCounts {
    private static final long EMPTY = 0; // message ids start at 1
    private long[] keys = new long[1024];
    private int[] counts = new int[1024];
    private int size;

    public int size() {
        return size;
    }

    public int get(long id) {
        int i = find(id);
        return keys[i] == id ? counts[i] : 0;
    }

    public void increment(long id) {
        if (id == EMPTY) {
            throw new IllegalArgumentException("message id 0");
        }
        if ((size + 1) * 2 > keys.length) {
            grow();
        }
        int i = find(id);
        if (keys[i] != id) {
            keys[i] = id;
            counts[i] = 0;
            size++;
        }
        counts[i]++;
    }

    /** @return the count left; at 0 the id is removed */
    public int decrement(long id) {
        int i = find(id);
        if (keys[i] != id) {
            throw new IllegalStateException("no reference to message " + id);
        }
        int left = --counts[i];
        if (left == 0) {
            removeAt(i);
        }
        return left;
    }

    public void forEach(LongConsumer action) {
        for (long k : keys) {
            if (k != EMPTY) {
                action.accept(k);
            }
        }
    }

    private int find(long id) {
        int mask = keys.length - 1;
        int i = (int) (mix(id) & mask);
        while (keys[i] != EMPTY && keys[i] != id) {
            i = (i + 1) & mask;
        }
        return i;
    }

    private void removeAt(int i) {
        int mask = keys.length - 1;
        keys[i] = EMPTY;
        size--;
        // Backward-shift deletion keeps probe chains intact without tombstones.
        int j = (i + 1) & mask;
        while (keys[j] != EMPTY) {
            long k = keys[j];
            int c = counts[j];
            keys[j] = EMPTY;
            int target = find(k);
            keys[target] = k;
            counts[target] = c;
            j = (j + 1) & mask;
        }
    }

    private void grow() {
        long[] oldKeys = keys;
        int[] oldCounts = counts;
        keys = new long[oldKeys.length * 2];
        counts = new int[oldKeys.length * 2];
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != EMPTY) {
                int t = find(oldKeys[i]);
                keys[t] = oldKeys[i];
                counts[t] = oldCounts[i];
            }
        }
    }

    private static long mix(long x) {
        x ^= x >>> 33;
        x *= 0xff51afd7ed558ccdL;
        x ^= x >>> 33;
        return x;
    }
}
