package io.durablemq.engine;

import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageCodec;
import io.durablemq.engine.metrics.StageTimers;
import io.durablemq.engine.queue.PageBodyReader;
import io.durablemq.engine.queue.QueueReadAhead;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreWriteException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Delivery to one session at a time: moves queued messages into its in-flight window
 * ({@link #pump}), builds the sends and releases them early (QoS 1) or after the commit (QoS 2,
 * resends, PUBRELs), and reads bodies for them (engine/README.md, "Delivery"). Called under the
 * engine's lock; the sends themselves run outside it, through the session's outbox.
 */
final class SessionDelivery implements AutoCloseable {
    /** Logged as the engine's: operators look for these lines there. */
    private static final Logger log = LoggerFactory.getLogger(Engine.class);

    /** Bodies read per request when delivery meets one not in memory (also bounded by bytes: PageBodyReader). */
    static final int MAX_BODIES_PER_READ = 1_024;

    private final EngineState st;
    /** Runs the read-ahead's pumps and a QoS 0 send's release as operations (whole or not at all). */
    private final OperationGuard guard;
    /** Reads queue pages for delivery on its own thread, outside the lock. */
    final QueueReadAhead<EngineSession> readAhead;

    SessionDelivery(EngineState st, OperationGuard guard) {
        this.st = st;
        this.guard = guard;
        // A quarter of the body cache per page: the bodies wait there for their sends (about one
        // window later) beside what publishers put in meanwhile.
        PageBodyReader bodyReader = new PageBodyReader(() -> st.store, st.bodies, st.config.bodyCacheBytes() / 4);
        this.readAhead = new QueueReadAhead<>(st.partitions::lockOf, st.storeLock, st.pageReader, bodyReader,
                new QueueReadAhead.Owner<>() {
                    @Override
                    public boolean accepts(EngineSession s) {
                        return !st.closed && !st.resetting && !s.discarded;
                    }

                    @Override
                    public boolean wantsBodies(EngineSession s) {
                        return s.isOnline();
                    }

                    @Override
                    public void bodiesRead(EngineSession s, Map<Long, Message> bodies) {
                        int read = 0;
                        for (Map.Entry<Long, Message> b : bodies.entrySet()) {
                            if (b.getValue() != null) {
                                st.bodies.put(b.getKey(), b.getValue());
                                read++;
                            }
                        }
                        st.metrics.bodiesRead(true, read);
                    }

                    @Override
                    public List<Runnable> pump(EngineSession s, Map<Long, Message> bodies) {
                        List<Runnable> immediate = new ArrayList<>();
                        // One operation: its queue deletes, in-flight puts and session record land in one batch.
                        guard.guarded(() -> "delivery to '" + s.clientId + "' after a read", null, () -> {
                            List<Runnable> sends = new ArrayList<>();
                            SessionDelivery.this.pump(s, sends, immediate, bodies);
                            runAfterDurable(sends);
                        });
                        return immediate;
                    }

                    @Override
                    public void internalError(String where) {
                        st.metrics.internalError(where);
                    }
                });
    }

    /**
     * Moves queued messages into the in-flight window while it has room, each with a fresh
     * packet id recorded in the same batch that deletes its queue entry.
     *
     * <p>A QoS 2 PUBLISH is sent from the commit's completion: a subscriber deduplicates QoS 2 by
     * packet id, so it must never see an id the store does not hold (after a crash the message
     * would come back under another id and be delivered twice). A QoS 1 PUBLISH goes out at once,
     * before its batch is durable, unless an earlier send to the session still waits (it would
     * be overtaken). That is safe for at-least-once: if the batch is lost, either the message
     * is still queued and is sent again, or its publisher never got a PUBACK and resends it; the
     * subscriber sees a duplicate, which QoS 1 allows, and nothing acknowledged is lost. It
     * saves a commit's latency per delivery and lets a subscriber's window refill as fast as
     * it acknowledges, instead of one commit round trip per refill.
     *
     * <p>Every body is in memory before its entry leaves the queue: one that is not (a head
     * restored by recovery, a body the cache let go) stops the pump, and the read-ahead thread
     * reads the bodies of the head's first entries in key order and pumps again
     * ({@link QueueReadAhead#requestBodies}). So a send never reads the store on the thread that
     * runs it (in the broker, often the subscriber's Netty event loop, right after a PUBACK).
     */
    void pump(EngineSession s, List<Runnable> sends, List<Runnable> immediate) {
        pump(s, sends, immediate, Map.of());
    }

    /**
     * {@link #pump} with bodies just read by the read-ahead thread at hand ({@code null} values:
     * read and not in the store; their sends report them).
     */
    void pump(EngineSession s, List<Runnable> sends, List<Runnable> immediate, Map<Long, Message> readBodies) {
        if (!s.canSendNow()) {
            return;
        }
        long now = System.currentTimeMillis();
        boolean drainQueued = false;
        boolean changed = false;
        QueueEntry e;
        while ((e = s.queue.peekInMemory()) != null) {
            if (e.qos() > 0 && !s.hasWindowSpace()) {
                break;
            }
            boolean expired = e.isExpired(now);
            Message body = null;
            if (!expired) {
                body = readBodies.get(e.messageId());
                if (body == null && !readBodies.containsKey(e.messageId())) {
                    body = st.bodies.get(e.messageId());
                    if (body == null) {
                        // The whole head (max(2 x window, 64) entries, bounded by bytes): a small window
                        // must not cost a read-ahead round trip every few messages.
                        readAhead.requestBodies(s, s.clientId, s.queue, Math.min(s.queue.capacity(), MAX_BODIES_PER_READ));
                        break; // its answer pumps again
                    }
                }
            }
            s.queue.pollInMemory();
            changed = true;
            st.unqueue(s, e);
            // SingleDelete: a queue key is put once (a fresh seq, never taken twice by a session; a new
            // session after a discard starts again at 1, after the discard's range delete, which covers
            // every older put of those keys); engine/README.md, "SingleDelete".
            st.committer.singleDelete(StoreColumn.QUEUES, Keys.queueEntry(s.key, e.seq()));
            if (expired) {
                st.releaseBody(e.messageId(), e.soleReference());
                st.metrics.dropped("expired");
                continue;
            }
            if (e.qos() == 0) {
                Runnable send = sendAction(s, 0, e.messageId(), body, 0, false, e.retain(), e.subscriptionIds());
                long id = e.messageId();
                boolean sole = e.soleReference();
                // The body is read by the send, after the commit: release it only then.
                sendAfterCommit(s, sends, () -> {
                    send.run();
                    try (PartitionLocks.Held held = st.partitions.lockFor(s.clientId)) {
                        if (!st.closed && !st.resetting) { // after a reset the image (and the count) is rebuilt
                            // One operation: a count's rewrite and the body's delete land in one batch.
                            guard.guarded(() -> "release of QoS 0 message " + id, null, () -> st.releaseBody(id, sole));
                        }
                    }
                });
                st.metrics.delivered(0);
                st.metrics.acknowledged(0, -1);
                continue;
            }
            int packetId = s.packetIds.allocate(s.inflight::containsKey);
            InflightEntry in = InflightEntry.sent(packetId, s.nextOrder++, e);
            s.inflight.put(packetId, in);
            st.partitionOf(s).inflightMessages++;
            st.committer.put(StoreColumn.INFLIGHT, Keys.packet(s.key, packetId), in.encodeValue());
            Runnable send = sendAction(s, packetId, e.messageId(), body, e.qos(), false, e.retain(), e.subscriptionIds());
            if (e.qos() == 1 && s.waitingSends.get() == 0) {
                s.outbox.add(send); // added under the session's partition lock, so in routing order
                if (!drainQueued) {
                    immediate.add(s.outbox::drain);
                    drainQueued = true;
                }
            } else {
                sendAfterCommit(s, sends, send);
            }
            st.metrics.delivered(e.qos());
        }
        if (changed) {
            st.persistSession(s);
        }
        readAhead.request(s, s.clientId, s.key, s.queue);
    }

    /**
     * Queues a send for the commit's completion, counted so that no early send overtakes it: the
     * count drops only once the send is in the session's outbox, ahead of any later early send.
     */
    static void sendAfterCommit(EngineSession s, List<Runnable> sends, Runnable send) {
        s.waitingSends.incrementAndGet();
        sends.add(() -> {
            if (send instanceof PublishSend p) {
                p.mayGoFromCommit(); // runs in the commit's completion (runAfterDurable)
            }
            s.outbox.add(send);
            s.waitingSends.decrementAndGet();
            s.outbox.drain();
        });
    }

    /** Must hold the session's partition. The send of one PUBLISH to the session's current listener, run later outside the lock. */
    Runnable sendAction(EngineSession s, int packetId, long messageId, int qos, boolean dup,
                        boolean retain, int[] subscriptionIds) {
        return sendAction(s, packetId, messageId, st.bodies.get(messageId), qos, dup, retain, subscriptionIds);
    }

    /** Must hold the session's partition. {@link #sendAction} with the body at hand ({@code null}: read it at send). */
    Runnable sendAction(EngineSession s, int packetId, long messageId, Message bodyAtHand, int qos, boolean dup,
                                boolean retain, int[] subscriptionIds) {
        // The body is taken now, under the lock, while it is certainly in memory or in the store: a
        // send that runs before its batch is written must not depend on the cache keeping it.
        return new PublishSend(s, s.listener, packetId, messageId, bodyAtHand, qos, dup, retain,
                subscriptionIdList(subscriptionIds));
    }

    /**
     * The send of one PUBLISH to a session's listener, run later in its outbox, outside the lock.
     * A class rather than a lambda only to carry {@link #mayGoAtNanos} for the {@code deliver_wait}
     * stage (StageTimers): the same one object per send as the lambda it replaces.
     */
    final class PublishSend implements Runnable {
        private final EngineSession s;
        private final SessionListener listener;
        private final int packetId;
        private final long messageId;
        private final Message pinned;
        private final int qos;
        private final boolean dup;
        private final boolean retain;
        private final List<Integer> ids;
        /** System.nanoTime when it was built under the lock: the start of {@code deliver_total}. */
        private final long builtAtNanos = System.nanoTime();
        /**
         * System.nanoTime from which the send may go: built (an early QoS 1 send, under the lock),
         * or the batch it waited for durable ({@link #sendAfterCommit} stamps it). Written before
         * the send is added to the outbox, read by the thread that drains it (the outbox's queue
         * orders the two).
         */
        private long mayGoAtNanos = builtAtNanos;

        PublishSend(EngineSession s, SessionListener listener, int packetId, long messageId, Message pinned, int qos,
                    boolean dup, boolean retain, List<Integer> ids) {
            this.s = s;
            this.listener = listener;
            this.packetId = packetId;
            this.messageId = messageId;
            this.pinned = pinned;
            this.qos = qos;
            this.dup = dup;
            this.retain = retain;
            this.ids = ids;
        }

        /** Called inside a commit's completion: the send waited for that batch, so its wait starts when the batch became durable. */
        void mayGoFromCommit() {
            mayGoAtNanos = st.committer.writeEndedNanos();
        }

        @Override
        public void run() {
            try {
                Message body = pinned != null ? pinned : loadBody(messageId);
                if (body == null) {
                    if (s.discarded) {
                        log.debug("message {} for '{}' is gone (session discarded meanwhile)", messageId, s.clientId);
                    } else {
                        log.error("message {} for '{}' is missing from memory and store: not sent", messageId, s.clientId);
                        st.metrics.internalError("send");
                    }
                    return;
                }
                long builtAt = 0;
                if (qos > 0) { // the stages are a QoS 1/2 message's
                    st.stages.record(StageTimers.Stage.DELIVER_WAIT, System.nanoTime() - mayGoAtNanos);
                    builtAt = builtAtNanos;
                }
                listener.onPublish(new OutboundPublish(packetId, qos, dup, retain, body, ids, builtAt));
            } catch (Throwable t) {
                log.error("sending message {} to '{}' threw", messageId, s.clientId, t);
                st.metrics.internalError("send");
            }
        }
    }

    /**
     * The identifiers as the immutable list {@link OutboundPublish} keeps as it is (its
     * {@code List.copyOf} returns an immutable list unchanged): one list per send, none for the
     * usual subscription without identifiers, instead of a list here and its copy there.
     */
    static List<Integer> subscriptionIdList(int[] subscriptionIds) {
        return switch (subscriptionIds.length) {
            case 0 -> List.of();
            case 1 -> List.of(subscriptionIds[0]);
            default -> java.util.Arrays.stream(subscriptionIds).boxed().toList();
        };
    }

    private Message loadBody(long messageId) {
        Message m = st.bodies.get(messageId);
        if (m != null) {
            return m;
        }
        byte[] raw;
        st.storeLock.readLock().lock();
        try {
            raw = st.store.get(StoreColumn.MESSAGES, Keys.message(messageId));
        } catch (StoreWriteException e) {
            return null; // store closed by a reset: the session is being closed anyway
        } finally {
            st.storeLock.readLock().unlock();
        }
        if (raw == null) {
            return null;
        }
        m = MessageCodec.decode(raw);
        st.bodies.put(messageId, m);
        st.metrics.bodiesRead(false, 1);
        return m;
    }

    /** Must hold the session's partition. Runs {@code actions} (sends) from the open batch's completion, once it is durable. */
    void runAfterDurable(List<Runnable> actions) {
        if (actions.isEmpty()) {
            return;
        }
        st.committer.onDurable(new Committer.Completion() {
            @Override
            public void durable() {
                for (Runnable r : actions) {
                    try {
                        r.run();
                    } catch (Throwable e) {
                        log.error("delivery callback threw", e);
                        st.metrics.internalError("send");
                    }
                }
            }

            @Override
            public void failed(Throwable cause) {
                // Not durable, so not sent: the engine resets and the session resends from the store.
            }
        });
    }

    /** Stops the read-ahead thread (the engine closes). */
    @Override
    public void close() {
        readAhead.close();
    }
}
