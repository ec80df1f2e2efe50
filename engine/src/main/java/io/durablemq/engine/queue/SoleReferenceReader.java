package io.durablemq.engine.queue;

import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;

import java.util.List;
import java.util.function.Supplier;

/**
 * Reads queue pages and marks each entry whose body has no count record in the store as its
 * body's only reference ({@link QueueEntry#soleReference()}), so that its release later reads no
 * count under the engine's lock. Read-ahead pages are read on the reader thread: the count reads
 * move there with them.
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
        Store s = store.get();
        for (int i = 0; i < page.size(); i++) {
            QueueEntry e = page.get(i);
            if (!e.soleReference() && s.get(StoreColumn.REFCOUNTS, Keys.message(e.messageId())) == null) {
                page.set(i, e.asSoleReference());
            }
        }
        return page;
    }
}
