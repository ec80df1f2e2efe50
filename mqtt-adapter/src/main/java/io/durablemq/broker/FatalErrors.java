package io.durablemq.broker;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.function.BiConsumer;

/**
 * What the broker does with a {@link VirtualMachineError} (OutOfMemoryError, StackOverflowError,
 * InternalError) caught where it would otherwise go on (a connection's exception handler, a
 * thread's uncaught-exception handler): it ends the process. After such an error the heap, and any state that
 * was half-changed when it hit, cannot be trusted, and a broker that "survives" it keeps failing
 * (issue 14: 1,653 connections closed on OutOfMemoryError at 180 % CPU, /ready still 200).
 * The store makes a restart safe: the service manager starts it again and recovery replays the
 * store. {@code -XX:+ExitOnOutOfMemoryError} (bin/durablemq, the systemd unit, the container)
 * ends the JVM at the first OutOfMemoryError already; this covers the other errors and a JVM
 * started without the flag. Exit status 3, as the JVM's own flag uses.
 */
public final class FatalErrors {
    private static final Logger LOG = LoggerFactory.getLogger(FatalErrors.class);
    public static final int EXIT_STATUS = 3;

    private static volatile BiConsumer<String, VirtualMachineError> policy = FatalErrors::halt;

    private FatalErrors() {
    }

    /** Ends the process (or runs the policy a test installed). Never returns normally in production. */
    public static void handle(String where, VirtualMachineError error) {
        policy.accept(where, error);
    }

    /** Test-only: records instead of ending the test JVM. Returns the policy it replaced. */
    public static BiConsumer<String, VirtualMachineError> replacePolicyForTests(BiConsumer<String, VirtualMachineError> p) {
        BiConsumer<String, VirtualMachineError> old = policy;
        policy = p;
        return old;
    }

    private static void halt(String where, VirtualMachineError error) {
        try {
            LOG.error("fatal JVM error in {}: the broker exits (status {}) and must be restarted; nothing acknowledged"
                    + " is lost, the store is replayed at the next start", where, EXIT_STATUS, error);
        } catch (Throwable ignored) {
            // logging may itself fail without memory; exit regardless
        }
        // halt, not exit: shutdown hooks would run the graceful stop on a JVM that cannot be trusted.
        Runtime.getRuntime().halt(EXIT_STATUS);
    }
}
