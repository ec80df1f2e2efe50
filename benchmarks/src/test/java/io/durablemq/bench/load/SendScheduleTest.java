package io.durablemq.bench.load;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The intended send times a rate-limited run clocks its latency from: pure arithmetic. */
class SendScheduleTest {

    @Test
    void staggeredPublishersSendInTurnOneMessageEveryOneOverRate() {
        // 16 publishers, 2,000 msg/s: the run sends every 500 µs, each publisher every 8 ms.
        SendSchedule s = new SendSchedule(1_000_000, 2_000, 16, Phase.STAGGERED);
        assertEquals(1_000_000, s.intendedNanos(0, 0));
        assertEquals(1_000_000 + 500_000, s.intendedNanos(1, 0));
        assertEquals(1_000_000 + 15 * 500_000, s.intendedNanos(15, 0));
        assertEquals(1_000_000 + 8_000_000, s.intendedNanos(0, 1));
        assertEquals(1_000_000 + 8_000_000 + 3 * 500_000, s.intendedNanos(3, 1));
    }

    @Test
    void alignedPublishersSendAtTheSameInstantsOneIntervalAfterTheStart() {
        SendSchedule s = new SendSchedule(0, 2_000, 16, Phase.ALIGNED);
        for (int p = 0; p < 16; p++) {
            assertEquals(8_000_000, s.intendedNanos(p, 0));
            assertEquals(16_000_000, s.intendedNanos(p, 1));
        }
    }

    @Test
    void timesDoNotDriftWhenTheIntervalIsNotAWholeNanosecond() {
        // 3 msg/s: 333,333,333.3 ns apart; after 3,000,000 messages exactly 1,000,000 s.
        SendSchedule s = new SendSchedule(-5, 3, 1, Phase.STAGGERED);
        assertEquals(-5 + 333_333_333, s.intendedNanos(0, 1));
        assertEquals(-5 + 666_666_666, s.intendedNanos(0, 2));
        assertEquals(-5 + 1_000_000L * 1_000_000_000L, s.intendedNanos(0, 3_000_000));
    }

    @Test
    void everyMessageOfAStaggeredRunHasItsOwnSlotInOrder() {
        SendSchedule s = new SendSchedule(0, 7_000, 7, Phase.STAGGERED);
        long previous = -1;
        for (long seq = 0; seq < 100; seq++) {
            for (int p = 0; p < 7; p++) {
                long t = s.intendedNanos(p, seq);
                assertEquals(true, t > previous, "publisher " + p + " seq " + seq);
                previous = t;
            }
        }
        assertEquals(99_857_142, previous); // message 699 of 7,000 msg/s: 699 / 7000 s
    }

    @Test
    void messagesOutsideTheRunAreRefused() {
        SendSchedule s = new SendSchedule(0, 100, 4, Phase.STAGGERED);
        assertThrows(IllegalArgumentException.class, () -> s.intendedNanos(4, 0));
        assertThrows(IllegalArgumentException.class, () -> s.intendedNanos(0, -1));
        assertThrows(IllegalArgumentException.class, () -> new SendSchedule(0, 0, 4, Phase.STAGGERED));
    }
}
