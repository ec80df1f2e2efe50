package io.durablemq.bench.load;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DeliveryLedgerTest {

    @Test
    void countsLostDuplicateAndMisroutedDeliveriesPerSubscriber() {
        DeliveryLedger ledger = new DeliveryLedger(Scenario.PAIRS, 2, 2);
        for (long seq = 0; seq < 5; seq++) {
            ledger.confirmed(0, seq);
            ledger.confirmed(1, seq);
        }
        for (long seq = 0; seq < 5; seq++) {
            assertTrue(ledger.received(0, 0, seq));
        }
        assertFalse(ledger.received(0, 0, 3), "second delivery of 0/3 is a duplicate");
        assertTrue(ledger.received(1, 1, 0));
        assertTrue(ledger.received(1, 1, 4));
        assertFalse(ledger.received(1, 0, 1), "subscriber 1 of a pair never matches publisher 0");

        assertEquals(10, ledger.expected());
        assertEquals(7, ledger.distinctReceived());
        assertEquals(3, ledger.lost()); // subscriber 1 misses 1, 2 and 3
        assertEquals(1, ledger.duplicates());
        assertEquals(1, ledger.unexpected());
    }

    @Test
    void fanOutOwesEveryMessageToEverySubscriber() {
        DeliveryLedger ledger = new DeliveryLedger(Scenario.FAN_OUT, 1, 3);
        ledger.confirmed(0, 0);
        ledger.confirmed(0, 1);
        ledger.received(0, 0, 0);
        ledger.received(1, 0, 1);
        // A delivery of a message whose publish was never acknowledged is not a loss elsewhere.
        ledger.received(2, 0, 7);
        assertEquals(6, ledger.expected());
        assertEquals(4, ledger.lost());
    }

    @Test
    void payloadHeaderRoundTripsAndForeignPayloadsAreIgnored() {
        byte[] body = Payloads.encode(12, 345_678_901_234L, 987_654_321L, 100);
        assertEquals(100, body.length);
        Payloads.Stamp stamp = Payloads.decode(ByteBuffer.wrap(body).asReadOnlyBuffer());
        assertEquals(new Payloads.Stamp(12, 345_678_901_234L, 987_654_321L), stamp);
        assertNull(Payloads.decode(ByteBuffer.wrap(new byte[100])));
        assertNull(Payloads.decode(ByteBuffer.wrap("hello".getBytes())));
    }
}
