package io.durablemq.engine.queue;

import io.durablemq.engine.delivery.QueueEntry;

import java.util.ArrayDeque;
import java.util.List;
import java.util.function.Consumer;

/**
 * One session's queue with only its head in memory. The queue is, in sequence order:
 * <ol>
 *   <li>the <b>head</b>: the first entries, in memory (at most about {@link #capacity()}, enough
 *       to refill the in-flight window twice);</li>
 *   <li>entries <b>on disk</b> only (the {@code queues} column family), read ahead in key order
 *       from {@code loadedThrough + 1} when the head runs below half its capacity;</li>
 *   <li>the <b>unwritten tail</b>: entries routed while the head was full whose batch may not be
 *       written yet. A page read from RocksDB would not see them, so they are kept here until
 *       {@link #written(long)} says their batch is in the store; page reads stop before the
 *       first of them and take them from memory once the disk part is used up.</li>
 * </ol>
 * Entries only ever leave from the front (delivery, expiry, DROP_OLDEST eviction) and join at
 * the back, so these three parts stay in this order. The counters ({@link QueueCounters})
 * cover all three and are what limits, statistics and the stored session record use.
 * Not thread-safe: guarded by the engine's lock.
 */
public final class PagedQueue {
    /** The smallest head kept in memory, whatever the window. */
    public static final int MIN_HEAD = 64;

    private final byte[] sessionKey;
    private final ArrayDeque<QueueEntry> head = new ArrayDeque<>();
    private final ArrayDeque<QueueEntry> unwritten = new ArrayDeque<>();
    private long messages;
    private long bytes;
    private long nextSeq = 1;
    /** The highest sequence number that entered the head (0: none yet): the disk part starts after it. */
    private long loadedThrough;
    private int capacity = MIN_HEAD;
    /** A page read asked for with {@link #pageToRead()} and not answered yet; any change that moves the disk part's start voids it. */
    private boolean pageRequested;
    private long requestToken;
    /** A read of the head's bodies asked for and not answered yet ({@link #headForBodyRead}). */
    private boolean bodiesRequested;

    /**
     * A page read for a reader thread: exactly {@code count} entries with
     * {@code fromSeq <= seq < beforeSeq} are in the store (the counters say so). {@code token}
     * tells a stale answer from a current one.
     */
    public record PageRequest(long token, long fromSeq, long beforeSeq, int count) {
    }

    public PagedQueue(byte[] sessionKey) {
        this.sessionKey = sessionKey;
    }

    public long messages() {
        return messages;
    }

    public long bytes() {
        return bytes;
    }

    public boolean isEmpty() {
        return messages == 0;
    }

    public int capacity() {
        return capacity;
    }

    public int headSize() {
        return head.size();
    }

    public int unwrittenSize() {
        return unwritten.size();
    }

    public QueueCounters counters() {
        return new QueueCounters(messages, bytes, nextSeq);
    }

    /** The head holds {@code max(2 x window, MIN_HEAD)} entries: a full window refill and the next. */
    public void fitWindow(int window) {
        int fitted = (int) Math.max(MIN_HEAD, Math.min(Integer.MAX_VALUE / 2, 2L * window));
        if (fitted < capacity) {
            // A page asked for under the larger head (an online session that now went offline) would
            // land after the trim was decided and leave the head over its new bound: drop its answer.
            voidPageRequest();
        }
        capacity = fitted;
    }

    /** The sequence number for the next entry. */
    public long takeSeq() {
        return nextSeq++;
    }

    /**
     * Adds an entry at the back (its put is in the open batch). Held in the head while
     * everything before it is in the head and the head has room; otherwise in the unwritten
     * tail, and then the caller must call {@link #written(long)} once its batch is durable.
     *
     * @return true if the entry went to the unwritten tail
     */
    public boolean add(QueueEntry e) {
        if (e.seq() >= nextSeq) {
            nextSeq = e.seq() + 1;
        }
        boolean allInHead = messages == head.size();
        messages++;
        bytes += e.size();
        if (allInHead && head.size() < capacity) {
            head.add(e);
            loadedThrough = e.seq();
            return false;
        }
        unwritten.add(e);
        return true;
    }

    /** The batch holding every entry up to {@code throughSeq} is in the store: page reads may find them there. */
    public void written(long throughSeq) {
        while (!unwritten.isEmpty() && unwritten.peekFirst().seq() <= throughSeq) {
            unwritten.pollFirst();
        }
    }

    /**
     * For delivery: the first entry held in memory, never reading the store (the unwritten tail
     * joins the head once the disk part is used up); null if none is in memory, which with
     * {@code !isEmpty()} means a page must be read first ({@link #pageToRead()}).
     */
    public QueueEntry peekInMemory() {
        fillFromMemory();
        return head.peekFirst();
    }

    /** Removes and returns {@link #peekInMemory()}'s entry. */
    public QueueEntry pollInMemory() {
        fillFromMemory();
        QueueEntry e = head.pollFirst();
        if (e != null) {
            messages--;
            bytes -= e.size();
        }
        return e;
    }

    /**
     * The page a reader thread should read now (the head is at or below half its capacity and
     * entries wait on disk), or null: none needed, or one is already asked for.
     */
    public PageRequest pageToRead() {
        long onDisk = messages - head.size() - unwritten.size();
        if (pageRequested || onDisk <= 0 || head.size() > capacity / 2) {
            return null;
        }
        int n = (int) Math.min(capacity - head.size(), onDisk);
        pageRequested = true;
        long before = unwritten.isEmpty() ? nextSeq : unwritten.peekFirst().seq();
        return new PageRequest(++requestToken, loadedThrough + 1, before, n);
    }

    /**
     * The answer to {@link #pageToRead()}, read outside the engine's lock. A stale answer (the
     * queue was read synchronously, trimmed or cleared meanwhile, so its entries may already be
     * in the head or gone) is dropped.
     *
     * @return true if the page joined the head
     * @throws IllegalStateException if a current answer has fewer entries than the counters promise
     */
    public boolean pageRead(PageRequest r, List<QueueEntry> page) {
        if (!pageRequested || r.token() != requestToken) {
            return false;
        }
        pageRequested = false;
        if (r.fromSeq() != loadedThrough + 1) {
            return false;
        }
        if (page.size() != r.count()) {
            throw new IllegalStateException("queue of '" + io.durablemq.engine.store.Keys.clientIdOf(sessionKey)
                    + "': its counters say " + r.count() + " entries are stored from seq " + r.fromSeq()
                    + " (before seq " + r.beforeSeq() + "), the store has " + page.size() + " (" + counters() + ")");
        }
        for (QueueEntry e : page) {
            head.add(e);
            loadedThrough = e.seq();
        }
        fillFromMemory();
        return true;
    }

    /**
     * For a body read on the reader thread (delivery met a head entry whose body is not in
     * memory): the first {@code max} head entries, or null if such a read is already asked for
     * and not answered ({@link #bodyReadAnswered()}).
     */
    public List<QueueEntry> headForBodyRead(int max) {
        if (bodiesRequested) {
            return null;
        }
        bodiesRequested = true;
        List<QueueEntry> first = new java.util.ArrayList<>(Math.min(max, head.size()));
        for (QueueEntry e : head) {
            if (first.size() >= max) {
                break;
            }
            first.add(e);
        }
        return first;
    }

    /** The body read asked for by {@link #headForBodyRead} was answered (or failed): the next may ask again. */
    public void bodyReadAnswered() {
        bodiesRequested = false;
    }

    /** A page read failed: the next {@link #pageToRead()} may ask again. */
    public void pageFailed(PageRequest r) {
        if (pageRequested && r.token() == requestToken) {
            pageRequested = false;
        }
    }

    private void voidPageRequest() {
        if (pageRequested) {
            pageRequested = false;
            requestToken++;
        }
    }

    /** Moves unwritten-tail entries into the head once nothing waits on disk before them. */
    private void fillFromMemory() {
        long onDisk = messages - head.size() - unwritten.size();
        if (onDisk > 0 || head.size() > capacity / 2) {
            return;
        }
        while (head.size() < capacity && !unwritten.isEmpty()) {
            QueueEntry e = unwritten.pollFirst();
            head.add(e);
            loadedThrough = e.seq();
        }
    }

    /** The first entry (reading ahead from the store if the head runs low), or null if the queue is empty. */
    public QueueEntry peek(QueuePageReader reader) {
        refill(reader);
        return head.peekFirst();
    }

    /** Removes and returns the first entry (the caller deletes its record), or null if the queue is empty. */
    public QueueEntry poll(QueuePageReader reader) {
        refill(reader);
        QueueEntry e = head.pollFirst();
        if (e != null) {
            messages--;
            bytes -= e.size();
        }
        return e;
    }

    /**
     * For a {@code DROP_OLDEST} eviction: removes the first entry from memory when the head holds
     * it, without the synchronous read-ahead that {@link #poll} makes once the head is half
     * empty (the caller asks the read-ahead thread for the next page instead). Only when the head
     * is empty and the oldest entries are on disk does it read the store, as {@link #poll} does:
     * the limits stay exact, so the entry to evict must be known now.
     */
    public QueueEntry evictOldest(QueuePageReader reader) {
        QueueEntry e = pollInMemory();
        return e != null ? e : poll(reader);
    }

    /**
     * Calls {@code action} for every entry, in order (the disk part read in pages), without
     * removing any. Used when a session is discarded, to release what its entries reference.
     */
    public void forEach(QueuePageReader reader, Consumer<QueueEntry> action) {
        head.forEach(action);
        long onDisk = messages - head.size() - unwritten.size();
        long from = loadedThrough + 1;
        long before = unwritten.isEmpty() ? nextSeq : unwritten.peekFirst().seq();
        while (onDisk > 0) {
            int n = (int) Math.min(onDisk, 1024);
            List<QueueEntry> page = readExactly(reader, from, before, n);
            page.forEach(action);
            onDisk -= n;
            from = page.get(page.size() - 1).seq() + 1;
        }
        unwritten.forEach(action);
    }

    /**
     * Drops head entries beyond the capacity from memory (a session that went offline keeps
     * only {@link #MIN_HEAD}). Call only when every head entry's put is known written (from a
     * completion of a batch after them): the dropped ones become part of the disk part, which
     * page reads find in the store. The dropped entries are the head's last ones, so the order
     * head, disk, unwritten tail still holds.
     */
    public void trimHead() {
        if (head.size() <= capacity) {
            return;
        }
        voidPageRequest();
        while (head.size() > capacity) {
            head.pollLast();
        }
        loadedThrough = head.peekLast().seq();
    }

    /** Empties the queue (the caller range-deletes its records). */
    public void clear() {
        voidPageRequest();
        head.clear();
        unwritten.clear();
        messages = 0;
        bytes = 0;
        loadedThrough = nextSeq - 1;
    }

    /**
     * Recovery: the first entries, read from the store in sequence order; kept while the head
     * has room. Call {@link #restore} afterwards.
     */
    public boolean restoreHead(QueueEntry e) {
        if (head.size() >= capacity) {
            return false;
        }
        head.add(e);
        loadedThrough = e.seq();
        return true;
    }

    /** Recovery: the queue's counters, after its head (possibly none) was restored. */
    public void restore(QueueCounters c) {
        if (c.messages() < head.size()) {
            throw new IllegalStateException("queue of '" + io.durablemq.engine.store.Keys.clientIdOf(sessionKey)
                    + "': counters say " + c.messages() + " entries, the store's first page has " + head.size());
        }
        messages = c.messages();
        bytes = c.bytes();
        nextSeq = c.nextSeq();
        unwritten.clear();
    }

    private void refill(QueuePageReader reader) {
        long outside = messages - head.size();
        if (outside == 0 || head.size() > capacity / 2) {
            return;
        }
        int want = capacity - head.size();
        long onDisk = outside - unwritten.size();
        if (onDisk > 0) {
            voidPageRequest(); // a synchronous read moves the disk part's start under any pending one
            int n = (int) Math.min(want, onDisk);
            long before = unwritten.isEmpty() ? nextSeq : unwritten.peekFirst().seq();
            for (QueueEntry e : readExactly(reader, loadedThrough + 1, before, n)) {
                head.add(e);
                loadedThrough = e.seq();
            }
            want -= n;
            onDisk -= n;
        }
        // The unwritten tail follows the disk part: take from it only once that is used up.
        while (onDisk == 0 && want > 0 && !unwritten.isEmpty()) {
            QueueEntry e = unwritten.pollFirst();
            head.add(e);
            loadedThrough = e.seq();
            want--;
        }
    }

    /** The counters say how many entries must be on disk: fewer is damage or a bug, never the queue's end. */
    private List<QueueEntry> readExactly(QueuePageReader reader, long from, long before, int n) {
        List<QueueEntry> page = reader.read(sessionKey, from, before, n);
        if (page.size() != n) {
            throw new IllegalStateException("queue of '" + io.durablemq.engine.store.Keys.clientIdOf(sessionKey)
                    + "': its counters say " + n + " or more entries are stored from seq " + from + " (before seq "
                    + before + "), the store has " + page.size() + " (" + counters() + ")");
        }
        return page;
    }
}
