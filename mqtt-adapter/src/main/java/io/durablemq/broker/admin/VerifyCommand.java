package io.durablemq.broker.admin;

import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.IExitCodeGenerator;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code durablemq verify DATA_DIR [--json]}: checks a store offline without changing it
 * (the checks are the engine's {@link StoreVerifier}). The store is opened read-only and takes
 * no lock, so it cannot disturb a broker; but a running broker's compactions may delete files
 * under the scan (reported as read errors), so check a stopped broker's folder or a backup.
 */
@Command(name = "verify", mixinStandardHelpOptions = true,
        description = {"Check a data folder offline and read-only (stop the broker, or check a backup copy).",
                "Checks the format version, the checksum of every block, a full scan of every column family, "
                        + "and the store's invariants: bodies referenced by queue and in-flight entries exist, no orphan "
                        + "bodies, unique in-flight send order per session, records of existing sessions, every record "
                        + "decodes. Prints counts per column family."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:every check holds", "1:a check failed (the report says which)", "2:usage error"})
public final class VerifyCommand implements Runnable, IExitCodeGenerator {

    @Parameters(index = "0", paramLabel = "DATA_DIR", description = "the broker's data folder (data_path)")
    Path dir;

    @Option(names = "--json", description = "print the report as JSON")
    boolean json;

    @Spec
    CommandSpec spec;

    private int exitCode = 1;

    @Override
    public void run() {
        if (!Files.isDirectory(dir)) {
            spec.commandLine().getErr().println("verify: " + dir.toAbsolutePath() + " is not a folder");
            exitCode = 2;
            return;
        }
        VerifyReport report = StoreVerifier.verify(dir);
        spec.commandLine().getOut().print(json ? report.toJson() : report.toText());
        spec.commandLine().getOut().flush();
        exitCode = report.ok() ? 0 : 1;
    }

    @Override
    public int getExitCode() {
        return exitCode;
    }
}
