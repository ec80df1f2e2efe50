package io.durablemq.bench.load;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pacer on a fake clock: it sends at the intended times, in order, stamps every message
 * with its intended time even when it wakes up late or a send blocks (so the lateness is
 * latency, not omitted), and stops when asked. No real time passes.
 */
class PacerTest {

    /** A clock that only moves when parked (by the time asked plus a fixed lateness) or told to. */
    static class FakeClock implements Pacer.Clock {
        long now;
        final long lateByNanos;
        final List<Long> parks = new ArrayList<>();

        FakeClock(long now, long lateByNanos) {
            this.now = now;
            this.lateByNanos = lateByNanos;
        }

        @Override
        public long nanoTime() {
            return now;
        }

        @Override
        public void parkNanos(long nanos) {
            parks.add(nanos);
            now += nanos + lateByNanos;
        }
    }

    record Sent(int publisher, long sequence, long intendedNanos, long actualNanos) {
    }

    private static List<Sent> run(Pacer pacer, FakeClock clock, boolean[] completed) throws InterruptedException {
        List<Sent> sent = new ArrayList<>();
        completed[0] = pacer.run((p, seq, intended) -> {
            sent.add(new Sent(p, seq, intended, clock.now));
            return true;
        });
        return sent;
    }

    @Test
    void oneSchedulerSendsEveryPublisherInTurnAtTheIntendedTimes() throws Exception {
        // 4 publishers at 4,000 msg/s: one message every 250 µs, each publisher every 1 ms.
        SendSchedule schedule = new SendSchedule(10_000, 4_000, 4, Phase.STAGGERED);
        FakeClock clock = new FakeClock(10_000, 0);
        boolean[] completed = new boolean[1];
        List<Sent> sent = run(new Pacer(schedule, new int[]{0, 1, 2, 3}, 3, 0, clock, () -> false), clock, completed);

        assertTrue(completed[0]);
        assertEquals(12, sent.size());
        for (int k = 0; k < sent.size(); k++) {
            Sent s = sent.get(k);
            assertEquals(k % 4, s.publisher());
            assertEquals(k / 4, s.sequence());
            assertEquals(10_000 + k * 250_000L, s.intendedNanos());
            assertEquals(s.intendedNanos(), s.actualNanos(), "an on-time clock sends exactly at the intended time");
        }
        // The first message is due at the start: no wait; then one park of 250 µs per message.
        assertEquals(11, clock.parks.size());
        assertTrue(clock.parks.stream().allMatch(n -> n == 250_000L));
    }

    @Test
    void aLateWakeUpIsSentLateButStampedWithTheIntendedTimeSoItCountsAsLatency() throws Exception {
        SendSchedule schedule = new SendSchedule(0, 2_000, 2, Phase.STAGGERED);
        FakeClock clock = new FakeClock(0, 80_000); // every wake-up 80 µs late
        boolean[] completed = new boolean[1];
        List<Sent> sent = run(new Pacer(schedule, new int[]{0, 1}, 2, 0, clock, () -> false), clock, completed);

        assertEquals(List.of(
                new Sent(0, 0, 0, 0),
                new Sent(1, 0, 500_000, 580_000),
                new Sent(0, 1, 1_000_000, 1_080_000),
                new Sent(1, 1, 1_500_000, 1_580_000)), sent);
        // The payload carries the intended time; the receiver clocks latency from it.
        Sent late = sent.get(1);
        ByteBuffer body = ByteBuffer.wrap(Payloads.encode(late.publisher(), late.sequence(), late.intendedNanos(), 64));
        long receivedAt = late.actualNanos() + 100_000; // 100 µs through the broker
        assertEquals(180_000, receivedAt - Payloads.decode(body).sentNanos(),
                "latency = the tool's 80 µs lateness + the broker's 100 µs");
    }

    @Test
    void afterASendThatBlockedTheOverdueMessagesGoAtOnceWithTheirOwnStamps() throws Exception {
        // 1 publisher at 1,000 msg/s; the second send blocks 3.5 ms (a full window).
        SendSchedule schedule = new SendSchedule(0, 1_000, 1, Phase.STAGGERED);
        FakeClock clock = new FakeClock(0, 0);
        List<Sent> sent = new ArrayList<>();
        new Pacer(schedule, new int[]{0}, 6, 0, clock, () -> false).run((p, seq, intended) -> {
            sent.add(new Sent(p, seq, intended, clock.now));
            if (seq == 1) {
                clock.now += 3_500_000;
            }
            return true;
        });
        List<Long> intended = sent.stream().map(Sent::intendedNanos).toList();
        List<Long> actual = sent.stream().map(Sent::actualNanos).toList();
        assertEquals(List.of(0L, 1_000_000L, 2_000_000L, 3_000_000L, 4_000_000L, 5_000_000L), intended);
        // Messages 2-4 were due while the send blocked: sent at 4.5 ms without waiting; 5 on time.
        assertEquals(List.of(0L, 1_000_000L, 4_500_000L, 4_500_000L, 4_500_000L, 5_000_000L), actual);
    }

    @Test
    void aPacerPerPublisherWithAlignedPhaseSendsItsOwnMessagesOnly() throws Exception {
        // The pre-s21 shape: 16 publishers at 2,000 msg/s all at once, this thread publisher 5's.
        SendSchedule schedule = new SendSchedule(0, 2_000, 16, Phase.ALIGNED);
        FakeClock clock = new FakeClock(0, 0);
        boolean[] completed = new boolean[1];
        List<Sent> sent = run(new Pacer(schedule, new int[]{5}, 3, 0, clock, () -> false), clock, completed);
        assertEquals(List.of(
                new Sent(5, 0, 8_000_000, 8_000_000),
                new Sent(5, 1, 16_000_000, 16_000_000),
                new Sent(5, 2, 24_000_000, 24_000_000)), sent);
    }

    @Test
    void longWaitsAreCutIntoBoundedParksAndAStopEndsThePacer() throws Exception {
        // 1 msg/s: a 1 s wait is parked in slices of at most 50 ms so a stop is seen in time.
        SendSchedule schedule = new SendSchedule(0, 1, 1, Phase.STAGGERED);
        FakeClock clock = new FakeClock(0, 0);
        List<Sent> sent = new ArrayList<>();
        boolean completed = new Pacer(schedule, new int[]{0}, 10, 0, clock, () -> clock.now >= 1_500_000_000L)
                .run((p, seq, intended) -> {
                    sent.add(new Sent(p, seq, intended, clock.now));
                    return true;
                });
        assertFalse(completed);
        assertEquals(2, sent.size(), "messages at 0 s and 1 s; stopped before 2 s");
        assertTrue(clock.parks.stream().allMatch(n -> n <= Pacer.MAX_PARK_NANOS));
    }

    @Test
    void aSenderThatRefusesStopsThePacer() throws Exception {
        SendSchedule schedule = new SendSchedule(0, 1_000, 2, Phase.STAGGERED);
        FakeClock clock = new FakeClock(0, 0);
        List<Long> seen = new ArrayList<>();
        boolean completed = new Pacer(schedule, new int[]{0, 1}, 100, 0, clock, () -> false)
                .run((p, seq, intended) -> {
                    seen.add(intended);
                    return seen.size() < 3;
                });
        assertFalse(completed);
        assertEquals(3, seen.size());
    }

    @Test
    void withSpinTheParkEndsEarlyAndTheRestIsSpunToTheIntendedTime() throws Exception {
        SendSchedule schedule = new SendSchedule(0, 1_000, 1, Phase.STAGGERED);
        // A clock that also moves 10 µs per reading, so the spin loop ends.
        FakeClock clock = new FakeClock(0, 0) {
            @Override
            public long nanoTime() {
                now += 10_000;
                return now;
            }
        };
        List<Sent> sent = new ArrayList<>();
        new Pacer(schedule, new int[]{0}, 2, 100_000, clock, () -> false).run((p, seq, intended) -> {
            sent.add(new Sent(p, seq, intended, clock.now));
            return true;
        });
        assertEquals(1_000_000, sent.get(1).intendedNanos());
        assertTrue(sent.get(1).actualNanos() >= 1_000_000, "never sent before its time");
        // Parked for the wait minus the 100 µs spin, never into it.
        assertTrue(clock.parks.stream().allMatch(n -> n <= 1_000_000 - 100_000), clock.parks.toString());
    }
}
