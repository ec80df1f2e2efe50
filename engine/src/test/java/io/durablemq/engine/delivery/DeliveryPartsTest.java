package io.durablemq.engine.delivery;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class DeliveryPartsTest {
    @Test
    void inflightTransitionsAreComplete() {
        assertEquals(InflightState.Step.COMPLETE, InflightState.PUBLISH_SENT.on(InflightState.Ack.PUBACK, 1));
        assertEquals(InflightState.Step.IGNORE, InflightState.PUBLISH_SENT.on(InflightState.Ack.PUBACK, 2));
        assertEquals(InflightState.Step.TO_PUBREL_SENT, InflightState.PUBLISH_SENT.on(InflightState.Ack.PUBREC, 2));
        assertEquals(InflightState.Step.IGNORE, InflightState.PUBLISH_SENT.on(InflightState.Ack.PUBREC, 1));
        assertEquals(InflightState.Step.IGNORE, InflightState.PUBLISH_SENT.on(InflightState.Ack.PUBCOMP, 2));
        assertEquals(InflightState.Step.RESEND_PUBREL, InflightState.PUBREL_SENT.on(InflightState.Ack.PUBREC, 2));
        assertEquals(InflightState.Step.COMPLETE, InflightState.PUBREL_SENT.on(InflightState.Ack.PUBCOMP, 2));
        assertEquals(InflightState.Step.IGNORE, InflightState.PUBREL_SENT.on(InflightState.Ack.PUBACK, 2));
    }

    @Test
    void packetIdsWrapAndSkipIdsInUse() {
        PacketIdAllocator a = new PacketIdAllocator();
        Set<Integer> inUse = Set.of(2, 3, 65_535);
        assertEquals(1, a.allocate(inUse::contains));
        assertEquals(4, a.allocate(inUse::contains));
        for (int i = 5; i < 65_535; i++) {
            assertEquals(i, a.allocate(inUse::contains));
        }
        assertEquals(1, a.allocate(inUse::contains), "wraps past 65535, which is in use");
        assertThrows(IllegalStateException.class, () -> new PacketIdAllocator().allocate(id -> true));
    }

    @Test
    void refCountsAgreeWithAMap() {
        RefCounts refs = new RefCounts();
        Map<Long, Integer> model = new HashMap<>();
        Random r = new Random(7);
        for (int i = 0; i < 200_000; i++) {
            long id = 1 + r.nextInt(5_000);
            if (r.nextBoolean() || !model.containsKey(id)) {
                refs.increment(id);
                model.merge(id, 1, Integer::sum);
            } else {
                int left = refs.decrement(id);
                int expected = model.merge(id, -1, Integer::sum);
                if (expected == 0) {
                    model.remove(id);
                }
                assertEquals(expected, left);
            }
        }
        assertEquals(model.size(), refs.size());
        model.forEach((id, c) -> assertEquals(c, refs.get(id)));
    }

    @Test
    void entriesRoundTrip() {
        QueueEntry q = new QueueEntry(9, 77, 2, true, 123, 456, 99, new int[]{1, 268_435_455});
        QueueEntry q2 = QueueEntry.decode(9, q.encodeValue());
        assertEquals(q.messageId(), q2.messageId());
        assertEquals(q.qos(), q2.qos());
        assertEquals(q.retain(), q2.retain());
        assertEquals(q.expiresAtMillis(), q2.expiresAtMillis());
        assertArrayEquals(q.subscriptionIds(), q2.subscriptionIds());
        InflightEntry in = InflightEntry.sent(65_535, 5, q).released();
        InflightEntry in2 = InflightEntry.decode(65_535, in.encodeValue());
        assertEquals(InflightState.PUBREL_SENT, in2.state());
        assertEquals(5, in2.order());
        assertEquals(0, in2.messageId());
    }
}
