package io.durablemq.cluster;

import org.apache.ratis.protocol.RaftClientReply;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Gives up this node's Raft leadership because it leads but cannot serve (its broker did not start:
 * a password or ACL file with an error, a listener port it cannot bind, an engine that refuses its
 * store). Before, such a node kept leading and retried every second, and no node served at all.
 *
 * <p>First a transfer to a most up-to-date follower that answered recently (Ratis's {@code
 * TransferLeadershipRequest}): Ratis brings it up to this node's last entry and tells it to start an
 * election at once, without pre-vote, so it wins before any other timer runs out and this node is not
 * elected again at once. When no follower qualifies or the transfer fails (timed out, the follower went
 * away), this node steps down without naming a successor (a transfer to nobody): the group elects a
 * leader after an election timeout; this node may win that election again, then it tries to serve
 * again and, failing, gives up again.
 *
 * <p>Ratis's other tool, pausing this node's elections ({@code LeaderElectionManagementRequest}), is
 * not used: in Ratis 3.3.0 a paused follower whose election timer runs out still becomes a candidate
 * (its timer is stopped) but starts no election ({@code RoleInfo.startLeaderElection} returns), and
 * resuming does not start one either; only a request from another node (a leader's append, a vote
 * request of a higher term) makes it a follower again. If every live node were paused that way (every node's files broken, each gave up in
 * turn), the group would have no election ever again. A follower that hears its leader never stands
 * for election anyway, so the pause would only matter where it is dangerous.
 */
final class LeadershipHandoff {
    private static final Logger log = LoggerFactory.getLogger(LeadershipHandoff.class);

    /** How one hand-off ended. */
    enum Outcome {
        /** Another node (named) leads now. */
        TRANSFERRED,
        /** This node is a follower; the group elects a leader. */
        STEPPED_DOWN,
        /** This node was no longer leader when asked. */
        NOT_LEADER,
        /** The group has no other member: nobody to hand over to (this node retries serving). */
        NO_OTHER_MEMBER,
        /** Ratis refused or did not answer in time: this node may still lead (it retries serving, then gives up again). */
        FAILED
    }

    private final RaftNode raft;
    private final String self;
    /** How long a transferee may take to catch up and win its election (and a step-down to finish). */
    private final long transferTimeoutMillis;
    /** A follower silent for longer is not chosen: it is likely down, and a transfer to it would only time out. */
    private final long electionTimeoutMaxMillis;

    LeadershipHandoff(RaftNode raft, String self, Duration electionTimeoutMax) {
        this.raft = raft;
        this.self = self;
        this.electionTimeoutMaxMillis = electionTimeoutMax.toMillis();
        // Two election timeouts: enough for an up-to-date follower to run one election (it needs one round of
        // votes), short enough that a failed transfer soon falls back to the plain step-down.
        this.transferTimeoutMillis = Math.max(1_000, 2 * electionTimeoutMax.toMillis());
    }

    /** Asks Ratis to move leadership away from this node; blocks at most a few seconds. */
    Outcome giveUp() throws InterruptedException {
        if (!raft.status().leader()) {
            return Outcome.NOT_LEADER;
        }
        List<String> members = raft.members();
        if (members.stream().noneMatch(m -> !m.equals(self))) {
            log.warn("node {} cannot serve and is the group's only member: nobody to hand leadership to", self);
            return Outcome.NO_OTHER_MEMBER;
        }
        Optional<FollowerProgress> to = transferee(raft.followers(), self, electionTimeoutMaxMillis);
        if (to.isPresent()) {
            String id = to.get().id();
            log.warn("node {} gives up leadership: transferring it to {} (match index {})", self, id, to.get().matchIndex());
            String failure = await(() -> raft.transferLeadership(id, transferTimeoutMillis), transferTimeoutMillis);
            if (failure == null) {
                log.info("node {} handed leadership to {}", self, id);
                return Outcome.TRANSFERRED;
            }
            log.warn("node {}: transferring leadership to {} failed ({}); stepping down instead", self, id, failure);
        } else {
            log.warn("node {} gives up leadership: no follower answered within {} ms; stepping down", self, electionTimeoutMaxMillis);
        }
        if (!raft.status().leader()) { // the transfer's election may have deposed this node after all
            return Outcome.NOT_LEADER;
        }
        String failure = await(() -> raft.stepDown(transferTimeoutMillis), transferTimeoutMillis);
        if (failure == null) {
            log.info("node {} stepped down; the group elects a leader", self);
            return Outcome.STEPPED_DOWN;
        }
        log.error("node {} could not step down ({}); it retries serving and gives up again if that fails", self, failure);
        return Outcome.FAILED;
    }

    /**
     * A follower with the highest match index among those that answered within an election timeout, chosen at
     * random among equals: a fixed choice (say the first in Ratis's list) could hand leadership back and forth
     * between two nodes that both cannot serve while a third, that could, is never chosen.
     */
    static Optional<FollowerProgress> transferee(List<FollowerProgress> followers, String self, long maxSilenceMillis) {
        List<FollowerProgress> live = followers.stream()
                .filter(f -> !f.id().equals(self) && f.lastContactMillis() <= maxSilenceMillis).toList();
        long best = live.stream().mapToLong(FollowerProgress::matchIndex).max().orElse(Long.MIN_VALUE);
        List<FollowerProgress> upToDate = live.stream().filter(f -> f.matchIndex() == best).toList();
        return upToDate.isEmpty() ? Optional.empty()
                : Optional.of(upToDate.get(ThreadLocalRandom.current().nextInt(upToDate.size())));
    }

    private interface Request {
        CompletableFuture<RaftClientReply> send() throws IOException;
    }

    /** Null when Ratis answered success; otherwise why not. */
    private static String await(Request request, long timeoutMillis) throws InterruptedException {
        try {
            RaftClientReply reply = request.send().get(timeoutMillis + 2_000, TimeUnit.MILLISECONDS);
            if (reply.isSuccess()) {
                return null;
            }
            return reply.getException() == null ? "refused" : reply.getException().getMessage();
        } catch (IOException | RuntimeException e) {
            return e.toString();
        } catch (ExecutionException e) {
            return String.valueOf(e.getCause());
        } catch (TimeoutException e) {
            return "no answer within " + (timeoutMillis + 2_000) + " ms";
        }
    }
}
