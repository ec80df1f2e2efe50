package io.durablemq.broker.protocol;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The alias table's policy: assign while free, then keep the hottest, with aging. */
class OutboundTopicAliasesTest {

    /** Sends {@code topic} through the table as the handler does; returns what the packet carried. */
    private static String send(OutboundTopicAliases table, String topic) {
        OutboundTopicAliases.Assignment a = table.lookup(topic);
        if (a == null) {
            return "plain";
        }
        table.assign(topic, a);
        return a.known() ? "reuse" : a.evictedTopic() == null ? "assign" : "evict";
    }

    @Test
    void theIntegrationTestsWorkloadWithThreeAliases() {
        // 8 topics a round, topics 0, 3 and 6 twice in a row, 6 rounds (OutboundTopicAliasTest.workload)
        OutboundTopicAliases table = new OutboundTopicAliases(3);
        List<String> got = new ArrayList<>();
        for (int round = 0; round < 6; round++) {
            for (int t = 0; t < 8; t++) {
                got.add(send(table, "al/topic-" + t));
                if (t % 3 == 0) {
                    got.add(send(table, "al/topic-" + t));
                }
            }
        }
        List<String> firstRound = List.of("assign", "reuse", "assign", "assign", "plain", "evict", "plain", "plain",
                "plain", "evict", "plain");
        List<String> laterRound = List.of("reuse", "reuse", "plain", "plain", "reuse", "reuse", "plain", "plain",
                "reuse", "reuse", "plain");
        List<String> expected = new ArrayList<>(firstRound);
        for (int i = 1; i < 6; i++) {
            expected.addAll(laterRound);
        }
        assertEquals(expected, got, "the repeated topics take the aliases and keep them");
        assertEquals(31, got.stream().filter("reuse"::equals).count());
    }

    @Test
    void aCycleLongerThanTheTableNeverEvicts() {
        OutboundTopicAliases table = new OutboundTopicAliases(4);
        for (int round = 0; round < 50; round++) {
            for (int t = 0; t < 30; t++) {
                String outcome = send(table, "cycle/" + t);
                String expected = t < 4 ? (round == 0 ? "assign" : "reuse") : "plain";
                assertEquals(expected, outcome, "round " + round + " topic " + t);
            }
        }
    }

    @Test
    void aNewHotSetMovesInOnceTheOldOneCoolsDown() {
        OutboundTopicAliases table = new OutboundTopicAliases(2);
        for (int i = 0; i < 50; i++) {
            send(table, "old/a");
            send(table, "old/b");
        }
        // The aging period is 8 * 2 = 16 publishes: the old counts are halved away while the new
        // topics count up, and both new topics take the old ones' aliases.
        int pairs = 0;
        String c;
        String d;
        do {
            assertTrue(++pairs < 100, "the new topics never got aliases");
            c = send(table, "new/c");
            d = send(table, "new/d");
        } while (!(c.equals("reuse") && d.equals("reuse")));
        assertEquals("plain", send(table, "old/a"), "the old hot set has lost its aliases");
    }

    @Test
    void aForgottenAliasIsHandedOutAgainFirst() {
        OutboundTopicAliases table = new OutboundTopicAliases(3);
        send(table, "t/one");
        send(table, "t/two");
        table.forget("t/one", 1);
        assertEquals(1, table.size());
        OutboundTopicAliases.Assignment a = table.lookup("t/three");
        assertEquals(1, a.alias());
        table.assign("t/three", a);
        assertEquals(3, table.lookup("t/four").alias());
        table.forget("t/two", 1); // not its alias: nothing happens
        assertEquals(2, table.size());
    }

    @Test
    void aMaximumOutsideTheProtocolsRangeIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new OutboundTopicAliases(0));
        assertThrows(IllegalArgumentException.class, () -> new OutboundTopicAliases(65_536));
    }
}
