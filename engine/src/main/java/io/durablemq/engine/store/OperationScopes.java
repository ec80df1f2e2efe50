package io.durablemq.engine.store;

/**
 * The committer's operation scopes ({@link BatchOperation}), per thread: the scope a thread has
 * open collects that thread's appends until it ends ({@link Committer#operation()}), and once the
 * owner requires scopes ({@link Committer#requireOperationScope()}) a write made outside one is
 * refused here. Each thread sees only its own scope, so nothing here takes the committer's lock.
 */
final class OperationScopes {
    /** Each thread's open operation scope ({@link Committer#operation()}): its appends are collected there until it ends. */
    private final ThreadLocal<BatchOperation> current = new ThreadLocal<>();
    /** Set by an owner whose appends must all be made inside operation scopes ({@link Committer#requireOperationScope()}). */
    private volatile boolean scopeRequired;

    /** Opens a scope on the calling thread: the child of the one it has open, if any. */
    BatchOperation open(Committer committer) {
        BatchOperation op = new BatchOperation(committer, this, current.get());
        current.set(op);
        return op;
    }

    /** The calling thread's open scope, or null. */
    BatchOperation current() {
        return current.get();
    }

    /** From now on every write must be made inside a scope (see {@link Committer#requireOperationScope()}). */
    void require() {
        scopeRequired = true;
    }

    /** For a write outside any scope: throws, before anything changed, if scopes are required. */
    void refuseUnscoped(BatchOperation.Kind kind, StoreColumn column) {
        if (scopeRequired) {
            throw new IllegalStateException("a " + column + " " + kind.name().toLowerCase(java.util.Locale.ROOT)
                    + " outside an operation scope: its writes could be split between two batches (a bug)");
        }
    }

    /** A scope ended on its thread: that thread's appends go to {@code parent} (or the open batch) again. */
    void leave(BatchOperation parent) {
        if (parent == null) {
            current.remove();
        } else {
            current.set(parent);
        }
    }
}
