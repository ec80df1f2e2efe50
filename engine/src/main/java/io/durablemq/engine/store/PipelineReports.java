package io.durablemq.engine.store;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the {@link CommitPipeline} reports back to its committer: a failed batch (its epoch
 * poisoned, the observer told once per epoch), a committed one (measurements), a completion that
 * threw (counted), a dead completion thread (the committer stops). An observer that throws never
 * stops the thread that told it: logged here.
 */
final class PipelineReports implements CommitPipeline.Owner {
    /** The committer's logger: operators and log-capturing tests look for the commit path's lines there. */
    private static final Logger log = LoggerFactory.getLogger(Committer.class);

    private final Committer.Observer observer;
    private final CommitterState state;
    private final Committer committer;

    PipelineReports(Committer.Observer observer, CommitterState state, Committer committer) {
        this.observer = observer;
        this.state = state;
        this.committer = committer;
    }

    @Override
    public void failed(long failedEpoch, StoreWriteException cause) {
        state.markFailed(failedEpoch, cause);
    }

    @Override
    public void committed(CommitBatch batch, boolean onWriter) {
        try {
            observer.completionsRunBy(onWriter);
        } catch (Throwable e) {
            log.error("commit observer threw", e);
        }
        if (batch.count == 0) {
            return; // nothing was written: not a commit
        }
        try {
            observer.committed(batch.count, batch.completions.size(), batch.writeEndedNanos - batch.writeStartNanos);
        } catch (Throwable e) {
            log.error("commit observer threw", e);
        }
    }

    @Override
    public void completionThrew(Throwable error) {
        try {
            observer.completionThrew(error);
        } catch (Throwable e) {
            log.error("commit observer threw while counting a completion that threw", e);
        }
    }

    @Override
    public void completerDied(StoreWriteException cause) {
        committer.stopCommitting(cause);
    }
}
