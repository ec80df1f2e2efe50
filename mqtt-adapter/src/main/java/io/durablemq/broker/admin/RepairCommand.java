package io.durablemq.broker.admin;

import io.durablemq.engine.repair.RepairRefusedException;
import io.durablemq.engine.repair.RepairReport;
import io.durablemq.engine.repair.StoreRepair;
import io.durablemq.engine.store.Durability;
import picocli.CommandLine.Command;
import picocli.CommandLine.IExitCodeGenerator;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * {@code durablemq repair DATA_DIR [--durability fsync|os] [--json]}: recovers what can be read
 * from a damaged store (the engine's {@link StoreRepair}), after backing the folder up, and
 * prints what was lost. The report is also written to {@code DATA_DIR/repair-report-*.txt}.
 */
@Command(name = "repair", mixinStandardHelpOptions = true,
        description = {"Repair a damaged data folder (stop the broker first).",
                "Backs the folder up to DATA_DIR.bak-<timestamp> first, reads the WAL up to its first bad record "
                        + "and every readable SST block, drops what would break the store's invariants, and prints what "
                        + "was lost (sessions, queued, in-flight, retained, QoS 2 records, by count and client id). "
                        + "The report is also written to DATA_DIR/repair-report-<timestamp>.txt."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:repaired (the report says what was lost, if anything)",
                "1:refused or failed (a broker holds the store, no disk for the backup, unreadable); nothing changed",
                "2:usage error"})
public final class RepairCommand implements Runnable, IExitCodeGenerator {

    @Parameters(index = "0", paramLabel = "DATA_DIR", description = "the broker's data folder (data_path)")
    Path dir;

    @Option(names = "--durability", paramLabel = "fsync|os",
            description = "the durability the broker ran with; only changes what the report says a torn WAL tail held")
    String durability;

    @Option(names = "--json", description = "print the report as JSON (the report file stays text)")
    boolean json;

    @Spec
    CommandSpec spec;

    private int exitCode = 1;

    @Override
    public void run() {
        Durability mode = null;
        if (durability != null) {
            try {
                mode = Durability.parse(durability);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), "--durability: " + e.getMessage());
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try {
            RepairReport report = StoreRepair.repair(dir, mode);
            out.print(json ? report.toJson() : report.toText());
            out.flush();
            exitCode = 0;
        } catch (RepairRefusedException e) {
            err.println("repair: refused: " + e.getMessage());
        } catch (IOException | RuntimeException e) {
            err.println("repair: failed: " + e);
        }
    }

    @Override
    public int getExitCode() {
        return exitCode;
    }
}
