package io.durablemq.broker.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.AfterAll;

/**
 * Coverage-guided fuzzing (Jazzer) of the broker's packet path: arbitrary bytes as a client's
 * stream into the real pipeline and a real engine ({@link PacketPathHarness}).
 *
 * <p>In the default test run ({@code JAZZER_FUZZ} unset) Jazzer runs in regression mode: every
 * seed in {@code src/test/resources/io/durablemq/broker/fuzz/PacketFuzzTestInputs/packetStream/}
 * (valid MQTT 3.1.1/5 sessions and the malformed cases) plus any crash files found earlier,
 * in a few seconds. To fuzz (see mqtt-adapter/README.md, "Hostile input and limits"):
 *
 * <pre>
 * JAZZER_FUZZ=1 JAZZER_MAX_DURATION=10m mvn -B -o -pl mqtt-adapter -am test \
 *     -Dtest=PacketFuzzTest -Dsurefire.failIfNoSpecifiedTests=false
 * </pre>
 *
 * A finding is written next to the seeds as {@code crash-<sha1>} and replays in every later
 * regression run.
 */
class PacketFuzzTest {
    private static PacketPathHarness harness;

    private static PacketPathHarness harness() throws Exception {
        if (harness == null) {
            harness = new PacketPathHarness();
        }
        return harness;
    }

    @FuzzTest(maxDuration = "30s")
    void packetStream(byte[] input) throws Exception {
        harness().run(input);
    }

    @AfterAll
    static void close() throws Exception {
        if (harness != null) {
            harness.close();
            harness = null;
        }
    }
}
