package io.durablemq.broker.chaos;

import org.eclipse.paho.client.mqttv3.MqttAsyncClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.MqttException;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

/** Paho v3 clients as a device would configure them to survive broker restarts. */
final class PahoClients {
    /** Connect attempts that got no CONNACK in time and were aborted (see {@link #connect}). */
    static final AtomicInteger STALLED_CONNECTS = new AtomicInteger();
    /** Connect calls that found Paho saying it was connected to a broker that did not hold the connection (see {@link #connect}). */
    static final AtomicInteger STALE_CONNECTIONS = new AtomicInteger();

    static final long UNAVAILABLE_GIVE_UP_MILLIS = 5_000;

    private PahoClients() {
    }

    /**
     * File persistence (in-flight QoS 1/2 state on disk), so a reconnect resends as the spec requires.
     * Paho's own file persistence, wrapped so that Paho 1.2.5 cannot deliver a QoS 2 message twice
     * when its connection breaks during {@code messageArrived} ({@link ShutdownSafeFilePersistence}).
     */
    static MqttAsyncClient create(String uri, String clientId, Path persistenceDir) throws MqttException {
        return new MqttAsyncClient(uri, clientId, new ShutdownSafeFilePersistence(persistenceDir.toString()));
    }

    /**
     * Persistent session, no automatic reconnect (the harness reconnects, so it knows when), a
     * large in-flight window. Retries while Paho is still tearing down the previous connection.
     *
     * <p>Paho 1.2.5 sometimes opens the socket of a reconnect and never sends its CONNECT: its
     * sender thread starts, finds no CONNECT queued yet ("no outstanding flows and not connected"),
     * and stops; the CONNECT queued a moment later is never written (seen in Paho's FINE log with
     * busy QoS 2 subscribers right after the broker died; the broker closes the socket after its
     * connect timeout). Waiting for the CONNACK at most 1.5 s and starting over keeps such a stall
     * from costing 10 s per broker life; stalls are counted in {@link #STALLED_CONNECTS}.
     *
     * <p>A node answering CONNACK 0x03 (Server unavailable) for {@link #UNAVAILABLE_GIVE_UP_MILLIS} is not
     * serving (a cluster node that lost its leadership while the clients reconnected, seen once in 48 soak
     * kills): the connect gives up then, so a cluster run can find the new leader instead of knocking 60 s.
     */
    static void connect(MqttAsyncClient client, String uri, int maxInflight) throws MqttException, InterruptedException {
        connect(client, uri, maxInflight, false);
    }

    /**
     * {@link #connect(MqttAsyncClient, String, int)}, returning only once this call got a CONNACK,
     * unless {@code keepLive} and Paho already said it was connected before any attempt of this call
     * timed out (cluster runs: a client of a node that still serves stays as it is).
     *
     * <p>Why "Paho says it is connected" is not trusted otherwise: after a broker restart no client
     * can be connected to the new life, and after an attempt of this call timed out and was aborted
     * ({@code disconnectForcibly}) the connection Paho may report is not one the broker holds. Seen
     * in PowerCutIT under heavy CPU load (a CONNACK later than 1.5 s): member g-2's aborted attempt
     * closed the socket the broker had just attached (the broker recorded the session offline
     * from then on), yet every later {@code connect} came back at once with
     * {@code REASON_CODE_CLIENT_CONNECTED} and {@code isConnected()} true; the harness counted g-2
     * online for two more lives and the final drain, and its 383 in-flight and 741 queued messages
     * were reported LOST though all were in the store. Such a client is forcibly disconnected and
     * connected again; {@link #STALE_CONNECTIONS} counts it.
     */
    static void connect(MqttAsyncClient client, String uri, int maxInflight, boolean keepLive)
            throws MqttException, InterruptedException {
        MqttConnectOptions o = new MqttConnectOptions();
        o.setServerURIs(new String[] {uri});
        o.setCleanSession(false);
        o.setAutomaticReconnect(false);
        o.setMqttVersion(MqttConnectOptions.MQTT_VERSION_3_1_1);
        o.setConnectionTimeout(10);
        o.setKeepAliveInterval(60);
        o.setMaxInflight(maxInflight);
        long deadline = System.currentTimeMillis() + 60_000;
        long unavailableSince = -1;
        boolean timedOut = false;
        while (true) {
            try {
                client.connect(o).waitForCompletion(1_500);
                return;
            } catch (MqttException e) {
                int rc = e.getReasonCode();
                if (rc == MqttException.REASON_CODE_CLIENT_CONNECTED && client.isConnected()) {
                    if (keepLive && !timedOut) {
                        return;
                    }
                    STALE_CONNECTIONS.incrementAndGet();
                    try {
                        client.disconnectForcibly(0, 1_000, false);
                    } catch (MqttException ignored) {
                        // nothing to abort any more
                    }
                    Thread.sleep(20);
                    continue;
                }
                if (System.currentTimeMillis() > deadline) {
                    throw e;
                }
                if (rc == MqttException.REASON_CODE_BROKER_UNAVAILABLE) {
                    long now = System.currentTimeMillis();
                    unavailableSince = unavailableSince < 0 ? now : unavailableSince;
                    if (now - unavailableSince > UNAVAILABLE_GIVE_UP_MILLIS) {
                        throw e;
                    }
                } else {
                    unavailableSince = -1;
                }
                if (rc == MqttException.REASON_CODE_CLIENT_TIMEOUT) {
                    timedOut = true;
                    STALLED_CONNECTS.incrementAndGet();
                    try {
                        client.disconnectForcibly(0, 1_000, false);
                    } catch (MqttException ignored) {
                        // nothing to abort any more
                    }
                }
                boolean transientState = rc == MqttException.REASON_CODE_CLIENT_DISCONNECTING
                        || rc == MqttException.REASON_CODE_CONNECT_IN_PROGRESS
                        || rc == MqttException.REASON_CODE_CLIENT_CONNECTED;
                Thread.sleep(transientState ? 20 : 100);
            }
        }
    }
}
