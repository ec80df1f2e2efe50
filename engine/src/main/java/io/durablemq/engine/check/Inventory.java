package io.durablemq.engine.check;

import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.topic.SubscriptionOptions;
import io.durablemq.engine.will.StoredWill;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a store holds, per client id (subscriptions, queued, in-flight, QoS 2 receive records)
 * and in total (bodies, retained messages), as counted by a {@link StoreScan}. Records of a
 * client without a session record are counted under that client id too, with
 * {@link ClientCounts#hasSession()} false.
 */
public final class Inventory implements StoreRecordVisitor {

    /** Per client id. */
    public record ClientCounts(boolean hasSession, long subscriptions, long queued, long inflight, long qos2Received) {
        static final ClientCounts NONE = new ClientCounts(false, 0, 0, 0, 0);

        ClientCounts plus(boolean session, long subs, long queue, long infl, long qos2) {
            return new ClientCounts(hasSession || session, subscriptions + subs, queued + queue, inflight + infl,
                    qos2Received + qos2);
        }
    }

    private final Map<String, ClientCounts> clients = new TreeMap<>();
    private long bodies;
    private long retained;
    private long wills;

    @Override
    public void session(String clientId, SessionRecord r, byte[] key, byte[] value) {
        add(clientId, true, 0, 0, 0, 0);
    }

    @Override
    public void subscription(String clientId, String filter, SubscriptionOptions o, byte[] key, byte[] value) {
        add(clientId, false, 1, 0, 0, 0);
    }

    @Override
    public void queueEntry(String clientId, QueueEntry e, byte[] key, byte[] value) {
        add(clientId, false, 0, 1, 0, 0);
    }

    @Override
    public void inflight(String clientId, InflightEntry e, byte[] key, byte[] value) {
        add(clientId, false, 0, 0, 1, 0);
    }

    @Override
    public void qos2Received(String clientId, int packetId, byte[] key, byte[] value) {
        add(clientId, false, 0, 0, 0, 1);
    }

    @Override
    public void will(String clientId, StoredWill w, byte[] key, byte[] value) {
        wills++;
    }

    @Override
    public void body(long messageId, byte[] key, byte[] value) {
        bodies++;
    }

    @Override
    public void retained(Message m, byte[] key, byte[] value) {
        retained++;
    }

    private void add(String clientId, boolean session, long subs, long queue, long infl, long qos2) {
        clients.put(clientId, clients.getOrDefault(clientId, ClientCounts.NONE).plus(session, subs, queue, infl, qos2));
    }

    public Map<String, ClientCounts> clients() {
        return Collections.unmodifiableMap(clients);
    }

    public ClientCounts client(String clientId) {
        return clients.getOrDefault(clientId, ClientCounts.NONE);
    }

    public long sessions() {
        return clients.values().stream().filter(ClientCounts::hasSession).count();
    }

    public long queued() {
        return clients.values().stream().mapToLong(ClientCounts::queued).sum();
    }

    public long inflight() {
        return clients.values().stream().mapToLong(ClientCounts::inflight).sum();
    }

    public long qos2Received() {
        return clients.values().stream().mapToLong(ClientCounts::qos2Received).sum();
    }

    public long subscriptions() {
        return clients.values().stream().mapToLong(ClientCounts::subscriptions).sum();
    }

    public long bodies() {
        return bodies;
    }

    public long retained() {
        return retained;
    }

    /** Stored wills (of connected clients, and of ended connections not yet sent). */
    public long wills() {
        return wills;
    }
}
