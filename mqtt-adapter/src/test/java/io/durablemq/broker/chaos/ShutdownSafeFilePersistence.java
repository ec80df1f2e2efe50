package io.durablemq.broker.chaos;

import org.eclipse.paho.client.mqttv3.MqttClientPersistence;
import org.eclipse.paho.client.mqttv3.MqttPersistable;
import org.eclipse.paho.client.mqttv3.MqttPersistenceException;
import org.eclipse.paho.client.mqttv3.persist.MqttDefaultFilePersistence;

import java.util.Enumeration;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Paho's file persistence, except that a removal Paho makes while the persistence is closed is
 * done when it is opened again, instead of throwing.
 *
 * <p>Why: Paho v3 1.2.5 delivers a QoS 2 message at PUBREL and then calls
 * {@code ClientState.deliveryComplete}, which removes the persisted receive record and only then
 * the in-memory {@code inboundQoS2} entry. When the connection breaks while the application's
 * {@code messageArrived} runs (a broker killed at any moment), Paho's own shutdown closes the
 * persistence meanwhile; {@code MqttDefaultFilePersistence.remove} then throws, the in-memory entry
 * stays, and the PUBREL the broker correctly resends after the reconnect makes Paho hand the same
 * stored message to the application again: a QoS 2 duplicate the broker did not send
 * ({@link PahoQos2ShutdownRaceTest} shows it deterministically). With the removal accepted here
 * Paho finishes its bookkeeping, answers the resent PUBREL with PUBCOMP and delivers nothing twice.
 *
 * <p>This changes nothing for a broker duplicate: a PUBLISH the broker sends again is a new
 * packet that Paho stores and delivers as before, and the ledger counts it. {@link #LATE_REMOVALS}
 * counts how often the race happened (reported by the chaos runs).
 */
final class ShutdownSafeFilePersistence implements MqttClientPersistence {
    /**
     * Removals of QoS 2 receive records Paho made while its persistence was closed, over all clients:
     * each one a message Paho would have delivered twice. (Paho also removes its own sent-message
     * records late at times; those only cost a resent PUBREL and are not counted.)
     */
    static final AtomicInteger LATE_REMOVALS = new AtomicInteger();
    /**
     * {@code -Dchaos.paho.unpatched=true}: count the race but let the removal throw as Paho's own
     * persistence does, to see the duplicates it makes in a chaos run (diagnostics only).
     */
    private static final boolean UNPATCHED = Boolean.getBoolean("chaos.paho.unpatched");
    /** Paho's key prefix for a received QoS 2 PUBLISH ({@code ClientState.PERSISTENCE_RECEIVED_PREFIX}). */
    private static final String RECEIVED_PREFIX = "r-";

    private final MqttDefaultFilePersistence files;
    private final Set<String> removeAtOpen = new LinkedHashSet<>();
    /** The records held when the persistence was last closed, to count only real late removals. */
    private final Set<String> keysAtClose = new java.util.HashSet<>();
    private boolean open;

    ShutdownSafeFilePersistence(String directory) {
        this.files = new MqttDefaultFilePersistence(directory);
    }

    @Override
    public synchronized void open(String clientId, String serverURI) throws MqttPersistenceException {
        files.open(clientId, serverURI);
        open = true;
        for (String key : removeAtOpen) {
            files.remove(key);
        }
        removeAtOpen.clear();
    }

    @Override
    public synchronized void close() throws MqttPersistenceException {
        keysAtClose.clear();
        if (open) {
            for (Enumeration<?> e = files.keys(); e.hasMoreElements(); ) {
                keysAtClose.add((String) e.nextElement());
            }
        }
        open = false;
        files.close();
    }

    @Override
    public synchronized void remove(String key) throws MqttPersistenceException {
        if (!open) {
            // Counted once per record that existed at the close: Paho also removes a receive key when it
            // answers a PUBREL it holds nothing for, and removes it twice (delivery complete, then PUBCOMP).
            boolean counted = !removeAtOpen.contains(key);
            if (counted && key.startsWith(RECEIVED_PREFIX) && keysAtClose.contains(key)) {
                LATE_REMOVALS.incrementAndGet();
            }
            if (UNPATCHED) {
                files.remove(key); // throws, as Paho's own persistence does
            }
            removeAtOpen.add(key);
            return;
        }
        files.remove(key);
    }

    @Override
    public synchronized void put(String key, MqttPersistable persistable) throws MqttPersistenceException {
        files.put(key, persistable);
    }

    @Override
    public synchronized MqttPersistable get(String key) throws MqttPersistenceException {
        return files.get(key);
    }

    @Override
    public synchronized Enumeration keys() throws MqttPersistenceException {
        return files.keys();
    }

    @Override
    public synchronized void clear() throws MqttPersistenceException {
        removeAtOpen.clear();
        files.clear();
    }

    @Override
    public synchronized boolean containsKey(String key) throws MqttPersistenceException {
        return !removeAtOpen.contains(key) && files.containsKey(key);
    }
}
