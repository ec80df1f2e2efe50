package io.durablemq.engine.queue;

import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;

/**
 * Reads queue pages and marks each entry whose body has no count record in the store as its
 * body's only reference ({@link QueueEntry#soleReference()}), so that its release later reads no
 * count under the engine's lock. Read-ahead pages are read on the reader thread: the count reads
 * move there with them, one ordered read per page ({@link #withoutCountRecord}). Recovery marks the
 * entries it restores (first pages, in-flight windows) the same way, one ordered read per session.
 *
 * <p>Why a missing record proves it: an entry on disk was written together with its body's count
 * record (routing writes both in one batch; page reads never reach entries of unwritten
 * batches), and a count never grows after routing. So no record now means the count fell to 1
 * in a written batch, and this entry is that one reference. A record still present (even one an
 * unwritten batch deletes) leaves the entry unmarked, which only costs a count read.
 */
public final class SoleReferenceReader implements QueuePageReader {
    private final QueuePageReader pages;
    private final Supplier<Store> store;

    public SoleReferenceReader(QueuePageReader pages, Supplier<Store> store) {
        this.pages = pages;
        this.store = store;
    }

    @Override
    public List<QueueEntry> read(byte[] sessionKey, long fromSeq, long beforeSeq, int max) {
        List<QueueEntry> page = pages.read(sessionKey, fromSeq, beforeSeq, max);
        List<Long> unmarked = new ArrayList<>(page.size());
        for (QueueEntry e : page) {
            if (!e.soleReference()) {
                unmarked.add(e.messageId());
            }
        }
        Set<Long> sole = withoutCountRecord(store.get(), unmarked);
        for (int i = 0; i < page.size(); i++) {
            QueueEntry e = page.get(i);
            if (!e.soleReference() && sole.contains(e.messageId())) {
                page.set(i, e.asSoleReference());
            }
        }
        return page;
    }

    /**
     * The ids among {@code messageIds} whose body has no count record in the store: one
     * iterator walking their keys in key order ({@link Store#keysPresent}; why not MultiGet: there), so
     * a read that failed throws and is never taken for "no record".
     */
    public static Set<Long> withoutCountRecord(Store store, Collection<Long> messageIds) {
        if (messageIds.isEmpty()) {
            return Set.of();
        }
        List<Long> ids = new ArrayList<>(new TreeSet<>(messageIds)); // message ids are big-endian keys: id order is key order
        List<byte[]> keys = new ArrayList<>(ids.size());
        for (long id : ids) {
            keys.add(Keys.message(id));
        }
        boolean[] present = store.keysPresent(StoreColumn.REFCOUNTS, keys);
        Set<Long> without = new HashSet<>(ids.size() * 2);
        for (int i = 0; i < ids.size(); i++) {
            if (!present[i]) {
                without.add(ids.get(i));
            }
        }
        return without;
    }
}
