package io.durablemq.engine.store;

/**
 * How many commit batches may be written (or submitted to a replicated log) and not yet
 * completed: the broker's {@code commit_batches_in_flight} (EngineConfig), else the JVM option
 * {@code -Ddurablemq.commit.batchesInFlight=N} (embedders, benchmarks), 1 to 64, default
 * {@value Committer#DEFAULT_BATCHES_IN_FLIGHT}. 1 is the committer before the pipeline (write,
 * completions, next write); 2 or more let the next write start while the last batch's
 * completions run, and let a cluster leader have that many Raft entries outstanding.
 */
public final class CommitPipelineDepth {
    public static final String PROPERTY = "durablemq.commit.batchesInFlight";
    public static final int MAX = 64;

    private CommitPipelineDepth() {
    }

    /** The configured depth; a value that is not a number in 1..64 is refused, naming the option. */
    public static int configured() {
        return parse(System.getProperty(PROPERTY));
    }

    static int parse(String value) {
        if (value == null || value.isBlank()) {
            return Committer.DEFAULT_BATCHES_IN_FLIGHT;
        }
        int n;
        try {
            n = Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + PROPERTY + " must be a whole number from 1 to " + MAX
                    + ", not '" + value + "'");
        }
        if (n < 1 || n > MAX) {
            throw new IllegalArgumentException("-D" + PROPERTY + " must be from 1 to " + MAX + ", not " + n);
        }
        return n;
    }

    /** A depth given in settings (the broker's {@code commit_batches_in_flight}); outside 1..64 is refused. */
    public static int check(int n) {
        if (n < 1 || n > MAX) {
            throw new IllegalArgumentException("commit batches in flight must be from 1 to " + MAX + ", not " + n);
        }
        return n;
    }
}
