package io.durablemq.broker.admin;

import io.durablemq.cluster.ClusterSettings;
import io.durablemq.cluster.Membership;
import io.durablemq.cluster.Peer;
import picocli.CommandLine.Command;
import picocli.CommandLine.IExitCodeGenerator;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code durablemq cluster add ID=HOST:RAFTPORT --peers CURRENT} and {@code durablemq cluster
 * remove ID --peers CURRENT}: a run-time membership change through Ratis's admin API (docs/CLUSTER.md).
 * {@code --peers} names the current members ({@code id=host:raftPort,...}, as in {@code cluster_peers});
 * the leader is found among them. Start a new member first (its {@code cluster_peers} listing the new
 * member set); afterwards set {@code cluster_peers} on every node to the new list.
 */
@Command(name = "cluster", mixinStandardHelpOptions = true,
        description = "Change the members of a running DurableMQ cluster.",
        subcommands = {ClusterCommand.Add.class, ClusterCommand.Remove.class})
public final class ClusterCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.err);
    }

    abstract static class Change implements Callable<Integer>, IExitCodeGenerator {
        @Option(names = "--peers", required = true, paramLabel = "ID=HOST:PORT,...",
                description = "the current members and their Raft addresses (as in cluster_peers)")
        String peers;

        @Spec
        CommandSpec spec;

        private int exitCode;

        @Override
        public Integer call() {
            List<Peer> current;
            try {
                current = ClusterSettings.parsePeers(peers, null);
            } catch (IllegalArgumentException e) {
                spec.commandLine().getErr().println("bad --peers: " + e.getMessage());
                return exitCode = 2;
            }
            try {
                List<Peer> next = change(current);
                spec.commandLine().getOut().println("members now: " + next.stream().map(p -> p.id() + "=" + p.raftAddress()).toList()
                        + "\nset cluster_peers on every node to: " + String.join(",", next.stream().map(p -> p.id() + "=" + p.raftAddress()).toList()));
                return exitCode = 0;
            } catch (IllegalArgumentException e) {
                spec.commandLine().getErr().println(e.getMessage());
                return exitCode = 2;
            } catch (IOException e) {
                spec.commandLine().getErr().println("membership change failed: " + e.getMessage());
                return exitCode = 1;
            }
        }

        abstract List<Peer> change(List<Peer> current) throws IOException;

        @Override
        public int getExitCode() {
            return exitCode;
        }
    }

    @Command(name = "add", mixinStandardHelpOptions = true, description = "Add a (running, empty) node as a member.",
            exitCodeListHeading = "Exit codes:%n", exitCodeList = {"0:added", "1:refused or unreachable", "2:bad arguments"})
    static final class Add extends Change {
        @Parameters(paramLabel = "ID=HOST:PORT", description = "the new member and its Raft address")
        String newcomer;

        @Override
        List<Peer> change(List<Peer> current) throws IOException {
            List<Peer> parsed = ClusterSettings.parsePeers(newcomer, null);
            if (parsed.size() != 1) {
                throw new IllegalArgumentException("name exactly one new member: " + newcomer);
            }
            return Membership.add(current, parsed.get(0));
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true, description = "Remove a member.",
            exitCodeListHeading = "Exit codes:%n", exitCodeList = {"0:removed", "1:refused or unreachable", "2:bad arguments"})
    static final class Remove extends Change {
        @Parameters(paramLabel = "ID", description = "the member to remove")
        String id;

        @Override
        List<Peer> change(List<Peer> current) throws IOException {
            return Membership.remove(current, id);
        }
    }
}
