package io.durablemq.broker.admin;

import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Who may ask for a backup, and which names it may have. */
class BackupEndpointRulesTest {

    @Test
    void onlyCallersOnThisHostAreServed() {
        InetSocketAddress wildcardBind = new InetSocketAddress("127.0.0.1", 9400);
        assertTrue(BackupEndpoint.fromThisHost(new InetSocketAddress("127.0.0.1", 50_000), wildcardBind));
        assertTrue(BackupEndpoint.fromThisHost(new InetSocketAddress("::1", 50_000), wildcardBind));
        // Bound to an interface address: a connection from this host to it comes from that address.
        InetSocketAddress lan = new InetSocketAddress("10.1.2.3", 9400);
        assertTrue(BackupEndpoint.fromThisHost(new InetSocketAddress("10.1.2.3", 50_000), lan));
        assertFalse(BackupEndpoint.fromThisHost(new InetSocketAddress("10.1.2.4", 50_000), lan));
        assertFalse(BackupEndpoint.fromThisHost(new InetSocketAddress("192.0.2.7", 50_000), wildcardBind));
        assertFalse(BackupEndpoint.fromThisHost(null, wildcardBind));
    }

    @Test
    void namesArePlainFolderNames() {
        assertEquals("nightly-2026.11_29", BackupEndpoint.nameFrom("name=nightly-2026.11_29"));
        assertTrue(BackupEndpoint.nameFrom(null).matches("backup-\\d{8}T\\d{6}\\.\\d{3}Z"), BackupEndpoint.nameFrom(null));
        for (String bad : new String[] {"name=..", "name=.", "name=a%2Fb", "name=", "name=%2Fetc", "x=1", "name"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BackupEndpoint.nameFrom(bad), bad);
            assertFalse(e.getMessage().isEmpty());
        }
        assertThrows(IllegalArgumentException.class, () -> BackupEndpoint.nameFrom("name=" + "a".repeat(201)));
    }

    @Test
    void jsonStringsAreEscaped() {
        assertEquals("\"a\\\"b\\\\c\\n\\u0001\"", BackupEndpoint.quote("a\"b\\c\n\u0001"));
    }
}
