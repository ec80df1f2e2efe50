package io.durablemq.broker.chaos;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What an operator does when the broker refuses its store as corrupt: runs the real command,
 * {@code java -jar durablemq-broker.jar repair DATA_DIR --durability fsync}, in its own process,
 * and reads its report (the text operators read) for the verdict on the WAL tail.
 */
final class OperatorRepair {
    /**
     * @param exitCode           the command's exit status (0: repaired)
     * @param report             its standard output and error
     * @param confined           the report says the WAL damage was confined to the tail of the newest WAL file
     * @param nothingAckLost     the report says nothing acknowledged was lost
     * @param losses             the report's lines about losses, for the test's summary
     */
    record Outcome(int exitCode, String report, boolean confined, boolean nothingAckLost, String losses) {
        boolean ok() {
            return exitCode == 0 && confined && nothingAckLost;
        }
    }

    private OperatorRepair() {
    }

    static Outcome run(Path jar, Path dataDir, Path output) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(List.of(java, "-Xmx384m", "-jar", jar.toString(), "repair", dataDir.toString(),
                "--durability", "fsync"))
                .redirectErrorStream(true)
                .redirectOutput(output.toFile())
                .start();
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
            return new Outcome(-1, "repair did not finish within 5 minutes: " + Files.readString(output), false, false, "");
        }
        String report = Files.readString(output);
        // "per client: nothing, retained: 0, dropped: nothing, damaged blocks: none" (the report's own words)
        String losses = report.lines()
                .filter(l -> l.startsWith("lost per client id") || l.startsWith("retained messages lost")
                        || l.startsWith("dropped to make") || l.startsWith("damaged blocks"))
                .map(l -> l.replace("lost per client id", "per client").replace("retained messages lost", "retained")
                        .replace("dropped to make the store consistent", "dropped").strip())
                .reduce((a, b) -> a + ", " + b).orElse("(no loss lines)");
        return new Outcome(p.exitValue(), report,
                report.contains("WAL damage: CONFINED to the tail of the newest WAL file"),
                report.contains("nothing acknowledged was lost") || report.contains("nothing was lost"), losses);
    }
}
