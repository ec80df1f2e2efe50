package io.durablemq.engine.support;

import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.session.SessionListener;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A connection stand-in that records, in order, what the engine asks it to send. */
public final class RecordingListener implements SessionListener {
    /** One thing the engine asked for: a PUBLISH, a PUBREL, or a close. */
    public record Event(OutboundPublish publish, int pubrel, CloseReason closed) {
        public boolean isPublish() {
            return publish != null;
        }

        public boolean isPubrel() {
            return pubrel != 0;
        }
    }

    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();

    @Override
    public void onPublish(OutboundPublish publish) {
        events.add(new Event(publish, 0, null));
    }

    @Override
    public void onPubrel(int packetId) {
        events.add(new Event(null, packetId, null));
    }

    @Override
    public void onSessionClosed(CloseReason reason) {
        events.add(new Event(null, 0, reason));
    }

    public Event next() {
        return next(Duration.ofSeconds(10));
    }

    public Event next(Duration timeout) {
        try {
            Event e = events.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (e == null) {
                throw new AssertionError("no event from the engine within " + timeout);
            }
            return e;
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            throw new AssertionError(ex);
        }
    }

    public OutboundPublish nextPublish() {
        Event e = next();
        if (!e.isPublish()) {
            throw new AssertionError("expected a PUBLISH, got " + e);
        }
        return e.publish();
    }

    public int nextPubrel() {
        Event e = next();
        if (!e.isPubrel()) {
            throw new AssertionError("expected a PUBREL, got " + e);
        }
        return e.pubrel();
    }

    /** Asserts nothing arrives within {@code quiet}. */
    public void expectNothing(Duration quiet) {
        try {
            Event e = events.poll(quiet.toMillis(), TimeUnit.MILLISECONDS);
            if (e != null) {
                throw new AssertionError("unexpected event " + e);
            }
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
        }
    }

    public List<Event> drain() {
        List<Event> out = new ArrayList<>();
        events.drainTo(out);
        return out;
    }
}
