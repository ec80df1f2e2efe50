package io.durablemq.engine;

import io.durablemq.engine.delivery.OverflowPolicy;
import io.durablemq.engine.guard.AdmissionSettings;
import io.durablemq.engine.store.CommitFaults;
import io.durablemq.engine.store.CommitPipelineDepth;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Durability;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * Engine settings. Every limit is explicit; defaults suit a single small server.
 *
 * @param dataPath                 folder of the RocksDB store (created if missing)
 * @param durability               fsync (default) or os
 * @param maxInflightPerSession    cap on the outbound window, also bounded by the client's receive maximum
 * @param maxQueuedMessagesPerSession queued (not in-flight) messages a session may hold
 * @param maxQueuedBytesPerSession bytes of queued messages a session may hold
 * @param overflowPolicy           what happens past those limits
 * @param maxSessionExpirySeconds  cap on any session's expiry interval
 * @param expirySweepInterval      how often expired sessions and messages are removed
 * @param bodyCacheBytes           heap for recently used message bodies
 * @param maxSubscriptionsPerSession subscriptions one session may hold; more are refused
 * @param commitFaults             test-only faults around the committer's store write; {@link CommitFaults#NONE} otherwise
 * @param admission                broker-wide queue budget and heap guard ({@link AdmissionSettings#defaults()})
 * @param commitBatchesInFlight    commit batches written (or submitted to a cluster's log) and not yet
 *                                 completed, 1..64; 0 = {@link CommitPipelineDepth#configured()} (the JVM
 *                                 option, default {@value Committer#DEFAULT_BATCHES_IN_FLIGHT})
 * @param partitions               engine partitions, 1..64 (broker key {@code engine_partitions}); a session
 *                                 lives in the partition of its client id's hash, in memory only; 1 = one lock
 */
public record EngineConfig(Path dataPath, Durability durability, int maxInflightPerSession,
                           long maxQueuedMessagesPerSession, long maxQueuedBytesPerSession,
                           OverflowPolicy overflowPolicy, long maxSessionExpirySeconds,
                           Duration expirySweepInterval, long bodyCacheBytes, int maxSubscriptionsPerSession,
                           CommitFaults commitFaults, AdmissionSettings admission, int commitBatchesInFlight,
                           int partitions) {

    /** Settings with one partition (the engine as before partitions). */
    public EngineConfig(Path dataPath, Durability durability, int maxInflightPerSession,
                        long maxQueuedMessagesPerSession, long maxQueuedBytesPerSession,
                        OverflowPolicy overflowPolicy, long maxSessionExpirySeconds,
                        Duration expirySweepInterval, long bodyCacheBytes, int maxSubscriptionsPerSession,
                        CommitFaults commitFaults, AdmissionSettings admission, int commitBatchesInFlight) {
        this(dataPath, durability, maxInflightPerSession, maxQueuedMessagesPerSession, maxQueuedBytesPerSession,
                overflowPolicy, maxSessionExpirySeconds, expirySweepInterval, bodyCacheBytes, maxSubscriptionsPerSession,
                commitFaults, admission, commitBatchesInFlight, 1);
    }

    /** Settings with the pipeline depth of the JVM option (or its default). */
    public EngineConfig(Path dataPath, Durability durability, int maxInflightPerSession,
                        long maxQueuedMessagesPerSession, long maxQueuedBytesPerSession,
                        OverflowPolicy overflowPolicy, long maxSessionExpirySeconds,
                        Duration expirySweepInterval, long bodyCacheBytes, int maxSubscriptionsPerSession,
                        CommitFaults commitFaults, AdmissionSettings admission) {
        this(dataPath, durability, maxInflightPerSession, maxQueuedMessagesPerSession, maxQueuedBytesPerSession,
                overflowPolicy, maxSessionExpirySeconds, expirySweepInterval, bodyCacheBytes, maxSubscriptionsPerSession,
                commitFaults, admission, 0);
    }

    /** Settings with the default budget and heap guard. */
    public EngineConfig(Path dataPath, Durability durability, int maxInflightPerSession,
                        long maxQueuedMessagesPerSession, long maxQueuedBytesPerSession,
                        OverflowPolicy overflowPolicy, long maxSessionExpirySeconds,
                        Duration expirySweepInterval, long bodyCacheBytes, int maxSubscriptionsPerSession,
                        CommitFaults commitFaults) {
        this(dataPath, durability, maxInflightPerSession, maxQueuedMessagesPerSession, maxQueuedBytesPerSession,
                overflowPolicy, maxSessionExpirySeconds, expirySweepInterval, bodyCacheBytes, maxSubscriptionsPerSession,
                commitFaults, AdmissionSettings.defaults());
    }

    /** Settings without fault injection (every production caller). */
    public EngineConfig(Path dataPath, Durability durability, int maxInflightPerSession,
                        long maxQueuedMessagesPerSession, long maxQueuedBytesPerSession,
                        OverflowPolicy overflowPolicy, long maxSessionExpirySeconds,
                        Duration expirySweepInterval, long bodyCacheBytes, int maxSubscriptionsPerSession) {
        this(dataPath, durability, maxInflightPerSession, maxQueuedMessagesPerSession, maxQueuedBytesPerSession,
                overflowPolicy, maxSessionExpirySeconds, expirySweepInterval, bodyCacheBytes, maxSubscriptionsPerSession,
                CommitFaults.NONE);
    }

    public EngineConfig {
        Objects.requireNonNull(dataPath, "dataPath");
        Objects.requireNonNull(durability, "durability");
        Objects.requireNonNull(overflowPolicy, "overflowPolicy");
        Objects.requireNonNull(expirySweepInterval, "expirySweepInterval");
        if (maxInflightPerSession < 1 || maxInflightPerSession > 65_535) {
            throw new IllegalArgumentException("maxInflightPerSession must be 1..65535: " + maxInflightPerSession);
        }
        if (maxQueuedMessagesPerSession < 1) {
            throw new IllegalArgumentException("maxQueuedMessagesPerSession must be positive");
        }
        if (maxSubscriptionsPerSession < 1) {
            throw new IllegalArgumentException("maxSubscriptionsPerSession must be positive");
        }
        if (maxQueuedBytesPerSession < 1) {
            throw new IllegalArgumentException("maxQueuedBytesPerSession must be positive");
        }
        if (bodyCacheBytes < 0) {
            throw new IllegalArgumentException("bodyCacheBytes must not be negative: " + bodyCacheBytes);
        }
        if (partitions < 1 || partitions > PartitionLocks.MAX_PARTITIONS) {
            throw new IllegalArgumentException("partitions (engine_partitions) must be 1.." + PartitionLocks.MAX_PARTITIONS
                    + ": " + partitions);
        }
        commitFaults = commitFaults == null ? CommitFaults.NONE : commitFaults;
        admission = admission == null ? AdmissionSettings.defaults() : admission;
        // 0 defers to the JVM option, so embedders and benchmarks keep -Ddurablemq.commit.batchesInFlight.
        commitBatchesInFlight = commitBatchesInFlight == 0 ? CommitPipelineDepth.configured()
                : CommitPipelineDepth.check(commitBatchesInFlight);
    }

    public static EngineConfig defaults(Path dataPath) {
        return new EngineConfig(dataPath, Durability.FSYNC, 1_000, 1_000_000, 512L * 1024 * 1024,
                OverflowPolicy.REJECT, 0xFFFF_FFFFL, Duration.ofSeconds(10), 32L * 1024 * 1024, 1_000);
    }

    public EngineConfig withDurability(Durability d) {
        return new EngineConfig(dataPath, d, maxInflightPerSession, maxQueuedMessagesPerSession,
                maxQueuedBytesPerSession, overflowPolicy, maxSessionExpirySeconds, expirySweepInterval, bodyCacheBytes, maxSubscriptionsPerSession, commitFaults, admission, commitBatchesInFlight, partitions);
    }

    public EngineConfig withQueueLimits(long messages, long bytes, OverflowPolicy policy) {
        return new EngineConfig(dataPath, durability, maxInflightPerSession, messages, bytes, policy,
                maxSessionExpirySeconds, expirySweepInterval, bodyCacheBytes, maxSubscriptionsPerSession, commitFaults, admission, commitBatchesInFlight, partitions);
    }

    public EngineConfig withMaxInflight(int max) {
        return new EngineConfig(dataPath, durability, max, maxQueuedMessagesPerSession,
                maxQueuedBytesPerSession, overflowPolicy, maxSessionExpirySeconds, expirySweepInterval, bodyCacheBytes, maxSubscriptionsPerSession, commitFaults, admission, commitBatchesInFlight, partitions);
    }

    public EngineConfig withMaxSubscriptions(int max) {
        return new EngineConfig(dataPath, durability, maxInflightPerSession, maxQueuedMessagesPerSession,
                maxQueuedBytesPerSession, overflowPolicy, maxSessionExpirySeconds, expirySweepInterval, bodyCacheBytes, max, commitFaults, admission, commitBatchesInFlight, partitions);
    }

    public EngineConfig withExpirySweep(Duration interval) {
        return new EngineConfig(dataPath, durability, maxInflightPerSession, maxQueuedMessagesPerSession,
                maxQueuedBytesPerSession, overflowPolicy, maxSessionExpirySeconds, interval, bodyCacheBytes, maxSubscriptionsPerSession, commitFaults, admission, commitBatchesInFlight, partitions);
    }

    public EngineConfig withBodyCacheBytes(long bytes) {
        return new EngineConfig(dataPath, durability, maxInflightPerSession, maxQueuedMessagesPerSession,
                maxQueuedBytesPerSession, overflowPolicy, maxSessionExpirySeconds, expirySweepInterval, bytes,
                maxSubscriptionsPerSession, commitFaults, admission, commitBatchesInFlight, partitions);
    }

    /** Test-only: faults the committer throws around its store writes. */
    public EngineConfig withCommitFaults(CommitFaults faults) {
        return new EngineConfig(dataPath, durability, maxInflightPerSession, maxQueuedMessagesPerSession,
                maxQueuedBytesPerSession, overflowPolicy, maxSessionExpirySeconds, expirySweepInterval, bodyCacheBytes,
                maxSubscriptionsPerSession, faults, admission, commitBatchesInFlight, partitions);
    }

    /** How many commit batches may be in flight (1..64; 0 = the JVM option or its default). */
    public EngineConfig withCommitBatchesInFlight(int n) {
        return new EngineConfig(dataPath, durability, maxInflightPerSession, maxQueuedMessagesPerSession,
                maxQueuedBytesPerSession, overflowPolicy, maxSessionExpirySeconds, expirySweepInterval, bodyCacheBytes,
                maxSubscriptionsPerSession, commitFaults, admission, n, partitions);
    }

    /** How many partitions the engine's sessions are spread over (1..64; engine/README.md, "The partitioned engine"). */
    public EngineConfig withPartitions(int n) {
        return new EngineConfig(dataPath, durability, maxInflightPerSession, maxQueuedMessagesPerSession,
                maxQueuedBytesPerSession, overflowPolicy, maxSessionExpirySeconds, expirySweepInterval, bodyCacheBytes,
                maxSubscriptionsPerSession, commitFaults, admission, commitBatchesInFlight, n);
    }

    /** The broker-wide queue budget and heap guard. */
    public EngineConfig withAdmission(AdmissionSettings a) {
        return new EngineConfig(dataPath, durability, maxInflightPerSession, maxQueuedMessagesPerSession,
                maxQueuedBytesPerSession, overflowPolicy, maxSessionExpirySeconds, expirySweepInterval, bodyCacheBytes,
                maxSubscriptionsPerSession, commitFaults, a, commitBatchesInFlight, partitions);
    }
}
