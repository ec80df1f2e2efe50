package io.durablemq.engine.will;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The engine's in-memory image of the {@code wills} column family, by client id, guarded by
 * the engine's lock. Every change here is mirrored in the store by the operation that makes it
 * (connect, disconnect, firing). Wills found by recovery are <em>held</em> until the broker
 * calls {@code Engine.startWills}: a will due at the restart is sent once the broker serves
 * and its ACL can be asked, and its session is not discarded before the will has been sent.
 */
public final class DueWills {
    private final Map<String, StoredWill> byClient = new HashMap<>();
    private boolean started;

    public StoredWill get(String clientId) {
        return byClient.get(clientId);
    }

    public void put(String clientId, StoredWill will) {
        byClient.put(clientId, will);
    }

    public StoredWill remove(String clientId) {
        return byClient.remove(clientId);
    }

    /** Forgets every will (the engine rebuilds them from the store); started stays as it was. */
    public void clear() {
        byClient.clear();
    }

    public int size() {
        return byClient.size();
    }

    /** A copy: callers fire wills while walking it. */
    public List<Map.Entry<String, StoredWill>> entries() {
        return new ArrayList<>(byClient.entrySet());
    }

    public void start() {
        started = true;
    }

    public boolean started() {
        return started;
    }

    /** True while the session's will waits for {@link #start()}: the session must not be discarded yet. */
    public boolean holds(String clientId) {
        return !started && byClient.containsKey(clientId);
    }
}
