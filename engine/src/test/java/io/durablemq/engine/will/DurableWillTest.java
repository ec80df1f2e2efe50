package io.durablemq.engine.will;

import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.check.Violation;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.message.MessageProperties;
import io.durablemq.engine.message.UserProperty;
import io.durablemq.engine.repair.StoreRepair;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreOpenException;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.RecordingListener;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.WriteBatch;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Wills kept with their sessions in the store: written by the CONNECT's commit, deleted by a
 * normal DISCONNECT's, due after a crash, sent once, on time, and cancelled by a reconnect.
 * A "crash" is the engine closed while the client is still connected: nothing records the
 * connection's end, exactly as after a SIGKILL (EngineCrashTest checks that the store a
 * SIGKILL leaves is the store a close leaves, minus unsynced writes).
 */
@Timeout(60)
class DurableWillTest {
    private static final long PERSISTENT = 3600;
    private static final Duration QUIET = Duration.ofMillis(500);

    @TempDir
    Path dir;
    EngineFixture fx;

    @AfterEach
    void close() {
        if (fx != null) {
            fx.close();
        }
    }

    private static StoredWill will(String topic, long delaySeconds) {
        MessageProperties props = new MessageProperties(1, "text/plain", "reply/x", new byte[]{1, 2},
                List.of(new UserProperty("k", "v1"), new UserProperty("k", "v2")));
        return StoredWill.of(topic, ("gone:" + topic).getBytes(StandardCharsets.UTF_8), 1, false, props, 120,
                delaySeconds, "alice");
    }

    private SessionHandle connectWithWill(String clientId, long expirySeconds, StoredWill will) {
        return await(fx.engine().connect(new ConnectRequest(clientId, false, expirySeconds, 100), new RecordingListener(), will));
    }

    /** B: a persistent subscriber to wills/#, offline afterwards, so a will is queued for it. */
    private void persistentSubscriber() {
        EngineFixture.Connected b = fx.connect("b", false, PERSISTENT);
        b.subscribe("wills/#", 1);
        b.disconnect();
    }

    private RecordingListener resumeSubscriber() {
        return fx.connect("b", false, PERSISTENT).listener();
    }

    private void restartLikeACrash() {
        fx.restart(); // clients still connected: no end time is written, as after a SIGKILL
    }

    private long storedWills() {
        fx.close();
        VerifyReport report = StoreVerifier.verify(dir);
        assertTrue(report.ok(), report.toText());
        long n = report.inventory().wills();
        fx = new EngineFixture(dir);
        return n;
    }

    @Test
    void willIsStoredByTheConnectsCommitAndDeletedByANormalDisconnect() {
        fx = new EngineFixture(dir);
        SessionHandle a = connectWithWill("a", 60, will("wills/a", 0));
        assertEquals(1, storedWills(), "the CONNECT's commit holds the will");

        a = connectWithWill("a", 60, will("wills/a", 0));
        await(a.disconnect(-1, io.durablemq.engine.session.WillAtEnd.DELETE)); // DISCONNECT 0x00
        assertEquals(0, storedWills(), "the normal DISCONNECT's commit deleted it");
    }

    @Test
    void willOfAClientConnectedAtTheCrashIsSentOnceAfterTheRestartWithItsProperties() {
        fx = new EngineFixture(dir);
        persistentSubscriber();
        connectWithWill("a", 60, will("wills/a", 0));
        restartLikeACrash();

        RecordingListener b = resumeSubscriber();
        b.expectNothing(QUIET); // held until the broker serves
        fx.engine().startWills(WillGate.ALLOW_ALL);
        OutboundPublish p = b.nextPublish();
        assertEquals("wills/a", p.message().topic());
        assertEquals("gone:wills/a", new String(p.message().payload(), StandardCharsets.UTF_8));
        assertEquals("text/plain", p.message().properties().contentType());
        assertEquals(List.of(new UserProperty("k", "v1"), new UserProperty("k", "v2")),
                p.message().properties().userProperties());
        assertTrue(p.message().expiresAtMillis() > 0, "the will's message expiry counts from firing");
        b.expectNothing(QUIET);

        // Sent once: its delete was in the routing's batch, so another restart does not send it again.
        restartLikeACrash();
        fx.engine().startWills(WillGate.ALLOW_ALL);
        RecordingListener again = resumeSubscriber();
        OutboundPublish resent = again.nextPublish(); // the unacknowledged delivery is resent (DUP)...
        assertTrue(resent.dup());
        again.expectNothing(QUIET); // ...but the will was not routed a second time
        assertEquals(0, storedWills());
    }

    @Test
    void delayedWillPendingAcrossARestartFiresAtItsDueTimeAndNotBefore() {
        fx = new EngineFixture(dir);
        persistentSubscriber();
        SessionHandle a = connectWithWill("a", 60, will("wills/a", 2));
        long ended = System.currentTimeMillis();
        await(a.disconnect(-1)); // connection lost: will due 2 s after this
        restartLikeACrash();
        fx.engine().startWills(WillGate.ALLOW_ALL);
        RecordingListener b = resumeSubscriber();
        OutboundPublish p = b.next(Duration.ofSeconds(15)).publish();
        long received = System.currentTimeMillis();
        assertEquals("wills/a", p.message().topic());
        assertTrue(received >= ended + 2000, "sent " + (received - ended) + " ms after the connection ended, before its 2 s delay");
        b.expectNothing(QUIET);
    }

    @Test
    void delayedWillOfAClientConnectedAtTheCrashCountsFromTheRestart() {
        fx = new EngineFixture(dir);
        persistentSubscriber();
        connectWithWill("a", 60, will("wills/a", 2));
        fx.close();
        long restarted = System.currentTimeMillis();
        fx = new EngineFixture(dir);
        fx.engine().startWills(WillGate.ALLOW_ALL);
        RecordingListener b = resumeSubscriber();
        OutboundPublish p = b.next(Duration.ofSeconds(15)).publish();
        assertEquals("wills/a", p.message().topic());
        assertTrue(System.currentTimeMillis() >= restarted + 2000, "a will delay counts from the restart");
    }

    @Test
    void reconnectBeforeTheDueTimeCancelsTheWillDurably() {
        fx = new EngineFixture(dir);
        persistentSubscriber();
        SessionHandle a = connectWithWill("a", 60, will("wills/a", 30));
        await(a.disconnect(-1));
        assertEquals(1, storedWills(), "the ended connection's will waits in the store");
        fx.engine().startWills(WillGate.ALLOW_ALL);
        fx.connect("a", false, 60); // resumes the session before the 30 s delay: no will
        restartLikeACrash();
        fx.engine().startWills(WillGate.ALLOW_ALL);
        resumeSubscriber().expectNothing(QUIET);
        assertEquals(0, storedWills(), "the reconnect's commit deleted the will");
    }

    @Test
    void cleanStartAndSessionExpiryZeroSendTheWillAtOnce() {
        fx = new EngineFixture(dir);
        fx.engine().startWills(WillGate.ALLOW_ALL);
        persistentSubscriber();
        SessionHandle a = connectWithWill("a", 60, will("wills/a", 30));
        await(a.disconnect(-1));
        fx.connect("a", true, 60); // clean start ends the old session: its will goes now
        SessionHandle c = connectWithWill("c", 0, will("wills/c", 30));
        await(c.disconnect(-1)); // expiry 0: the session ends with the connection, so does the delay
        RecordingListener b = resumeSubscriber();
        assertEquals("wills/a", b.nextPublish().message().topic());
        assertEquals("wills/c", b.nextPublish().message().topic());
    }

    @Test
    void willRefusedByTheGateAtFireTimeIsDroppedNotSent() {
        fx = new EngineFixture(dir);
        persistentSubscriber();
        connectWithWill("a", 60, will("wills/a", 0));
        restartLikeACrash();
        fx.engine().startWills((client, user, topic) -> !"alice".equals(user));
        resumeSubscriber().expectNothing(QUIET);
        assertEquals(0, storedWills());
    }

    @Test
    void aWillWithoutItsSessionIsAViolationAndRepairKeepsTheOthers() throws Exception {
        fx = new EngineFixture(dir);
        persistentSubscriber();
        connectWithWill("a", 60, will("wills/a", 0));
        fx.close();
        fx = null;
        try (Store store = Store.open(dir, Durability.FSYNC); WriteBatch b = new WriteBatch()) {
            b.put(store.handle(StoreColumn.WILLS), Keys.session("ghost"), WillCodec.encode(will("wills/ghost", 0)));
            store.write(b);
        }
        VerifyReport report = StoreVerifier.verify(dir);
        assertFalse(report.ok());
        assertEquals(1L, report.violations().counts().get(Violation.Kind.NO_SESSION), report.toText());
        assertEquals(2, report.inventory().wills());
        assertThrows(StoreOpenException.class,
                () -> io.durablemq.engine.Engine.open(io.durablemq.engine.EngineConfig.defaults(dir), new SimpleMeterRegistry()));

        StoreRepair.repair(dir, Durability.FSYNC);
        VerifyReport repaired = StoreVerifier.verify(dir);
        assertTrue(repaired.ok(), repaired.toText());
        assertEquals(1, repaired.inventory().wills(), "a's will is carried over, the ghost's dropped");
        fx = new EngineFixture(dir);
        fx.engine().startWills(WillGate.ALLOW_ALL);
        assertEquals("wills/a", resumeSubscriber().nextPublish().message().topic());
    }
}
