package io.durablemq.engine.repair;

import io.durablemq.engine.check.Inventory;
import io.durablemq.engine.check.Json;
import io.durablemq.engine.check.ReadError;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.StoreColumn;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * What {@code durablemq repair} did and what was lost.
 *
 * @param walDamage     what the broker's own open said about the WAL (null if it opened): the
 *                      repair read only up to the first bad WAL record
 * @param walTail       where that damage lies and whether it was confined to the tail of the newest
 *                      WAL file (null if the WAL was intact)
 * @param unreadable    ranges of keys in damaged blocks that were skipped
 * @param unreadableCounts per damaged column family: records RocksDB's file metadata counts but the
 *                      scan could not read (an estimate: see {@code UnreadableCount})
 * @param before        what could be read before repair
 * @param after         what the repaired store holds
 * @param dropped       readable records not carried over, by reason
 * @param durability    the durability mode the operator declared, or null if not given
 */
public record RepairReport(Path dir, Path backup, Path reportFile, String walDamage, WalTailCheck walTail,
                           List<ReadError> unreadable,
                           Map<StoreColumn, Long> unreadableCounts, Inventory before, Inventory after, Map<DropReason, Long> dropped,
                           Durability durability) {

    /** Per client id: what the client had before and has no more (only clients that lost something). */
    public record ClientLoss(String clientId, boolean session, long subscriptions, long queued, long inflight,
                             long qos2Received) {
        public boolean any() {
            return session || subscriptions != 0 || queued != 0 || inflight != 0 || qos2Received != 0;
        }
    }

    public List<ClientLoss> losses() {
        Set<String> ids = new TreeSet<>(before.clients().keySet());
        ids.addAll(after.clients().keySet());
        return ids.stream().map(id -> {
            Inventory.ClientCounts b = before.client(id);
            Inventory.ClientCounts a = after.client(id);
            return new ClientLoss(id, b.hasSession() && !a.hasSession(), b.subscriptions() - a.subscriptions(),
                    b.queued() - a.queued(), b.inflight() - a.inflight(), b.qos2Received() - a.qos2Received());
        }).filter(ClientLoss::any).toList();
    }

    /**
     * The client ids (known before repair) whose keys lie in a damaged range of a per-session
     * column family: from the client of the last key read before it to the client of the first
     * key read after it (key order: length-prefixed client id, then the record's own part).
     */
    public List<String> clientsInRange(ReadError e) {
        if (e.afterClient() == null && e.resumedClient() == null && perSession(e.column())) {
            return List.copyOf(before.clients().keySet());
        }
        if (!perSession(e.column())) {
            return List.of();
        }
        byte[] from = e.afterClient() == null ? new byte[0] : Keys.session(e.afterClient());
        byte[] to = e.resumedClient() == null ? null : Keys.session(e.resumedClient());
        return before.clients().keySet().stream().filter(c -> {
            byte[] k = Keys.session(c);
            return Arrays.compareUnsigned(k, from) >= 0 && (to == null || Arrays.compareUnsigned(k, to) <= 0);
        }).toList();
    }

    public long orphanBodiesDropped() {
        return dropped.getOrDefault(DropReason.ORPHAN_BODY, 0L);
    }

    /** True if nothing was unreadable, dropped, or cut from the WAL. */
    public boolean nothingLost() {
        return walDamage == null && unreadable.isEmpty() && dropped.isEmpty() && losses().isEmpty();
    }

    /** True when the WAL damage was confined to the tail of the newest WAL file (both readings agree). */
    public boolean walTailConfined() {
        return walTail != null && walTail.confined();
    }

    /**
     * True when the operator declared fsync durability and nothing that was acknowledged is gone:
     * the WAL was intact or only its torn last write (never acknowledged) was cut, and nothing
     * else was unreadable, dropped or lost.
     */
    public boolean nothingAcknowledgedLost() {
        return durability == Durability.FSYNC && (walDamage == null || walTailConfined()) && unreadable.isEmpty()
                && dropped.isEmpty() && losses().isEmpty();
    }

    public String durabilityStatement() {
        if (walDamage == null) {
            return "The WAL was intact.";
        }
        if (!walTailConfined()) {
            return "The WAL damage was not shown to be confined to its tail, so writes after the damaged record may have"
                    + " been cut too: in fsync mode those were synced and may have been acknowledged; they are lost and"
                    + " cannot be counted (the backup keeps them).";
        }
        String fsync = "In fsync mode every acknowledged message was synced to the WAL before it was acknowledged, "
                + "so the torn WAL tail (the last write, whose fsync never returned) held nothing that was acknowledged.";
        String os = "In os mode the lost WAL tail may have held acknowledged messages: they are lost.";
        if (durability == Durability.FSYNC) {
            return fsync;
        }
        if (durability == Durability.OS) {
            return os;
        }
        return fsync + " " + os + " (Pass --durability to state which mode the broker ran in.)";
    }

    public String toText() {
        StringBuilder b = new StringBuilder();
        b.append("repair of ").append(dir).append('\n');
        b.append("backup of the folder as it was: ").append(backup).append('\n');
        b.append("this report: ").append(reportFile).append('\n');
        if (walDamage != null) {
            b.append("WAL: the broker's open refused it: ").append(walDamage).append('\n');
            b.append("     read up to the last consistent point (the first bad WAL record); what followed it is gone "
                    + "and cannot be counted\n");
            if (walTail != null) {
                b.append("WAL damage: ").append(walTailConfined() ? "CONFINED to the tail of the newest WAL file"
                        : walTail.tail() == io.durablemq.engine.store.WalDamage.Tail.UNKNOWN
                        ? "CANNOT TELL whether it was confined to the tail" : "NOT confined to the tail").append('\n');
                b.append("     ").append(walTail.where()).append('\n');
            }
        }
        b.append(durabilityStatement()).append('\n');
        if (unreadable.isEmpty()) {
            b.append("damaged blocks: none\n");
        } else {
            b.append("damaged blocks (their records could not be read and are lost):\n");
            unreadableCounts.forEach((c, n) -> b.append(String.format(
                    "  %s: about %,d records unreadable (RocksDB's file metadata counts them, the scan could not read them)%n",
                    c.cfName(), n)));
            for (ReadError e : unreadable) {
                b.append("  ").append(e.describe()).append('\n');
                List<String> clients = clientsInRange(e);
                if (!clients.isEmpty()) {
                    b.append("    clients whose ").append(e.column().cfName())
                            .append(" records may have been in it (what each holds now):\n");
                    for (String c : clients) {
                        Inventory.ClientCounts n = after.client(c);
                        b.append(String.format("      '%s': %d subscriptions, %d queued, %d in-flight, %d QoS 2 receive records%n",
                                c, n.subscriptions(), n.queued(), n.inflight(), n.qos2Received()));
                    }
                }
            }
        }
        b.append(String.format("before (readable): %s%n", totals(before)));
        b.append(String.format("after:             %s%n", totals(after)));
        if (dropped.isEmpty()) {
            b.append("dropped to make the store consistent: nothing\n");
        } else {
            b.append("dropped to make the store consistent:\n");
            dropped.forEach((r, n) -> b.append(String.format("  %,d %s%n", n, r.label())));
        }
        if (orphanBodiesDropped() > 0) {
            b.append(String.format("%,d messages lost their last queue or in-flight entry to the damage (counted by their "
                    + "bodies; the clients are the ones named in the damaged ranges above)%n", orphanBodiesDropped()));
        }
        List<ClientLoss> losses = losses();
        if (losses.isEmpty()) {
            b.append("lost per client id: nothing\n");
        } else {
            b.append("lost per client id (readable before, gone after):\n");
            for (ClientLoss l : losses) {
                b.append(String.format("  '%s':%s %d subscriptions, %d queued, %d in-flight, %d QoS 2 receive records%n",
                        l.clientId(), l.session() ? " session," : "", l.subscriptions(), l.queued(), l.inflight(),
                        l.qos2Received()));
            }
        }
        long retainedLost = before.retained() - after.retained();
        b.append("retained messages lost: ").append(retainedLost).append('\n');
        b.append(nothingLost() ? "nothing was lost\n" : "the store is consistent again; `durablemq verify` passes on it\n");
        if (!nothingLost() && nothingAcknowledgedLost()) {
            b.append("nothing acknowledged was lost (fsync): only the torn last WAL write, never acknowledged, was cut\n");
        }
        return b.toString();
    }

    private static boolean perSession(StoreColumn c) {
        return c == StoreColumn.SESSIONS || c == StoreColumn.SUBSCRIPTIONS || c == StoreColumn.QUEUES
                || c == StoreColumn.INFLIGHT || c == StoreColumn.QOS2_RECEIVED || c == StoreColumn.WILLS;
    }

    private static String totals(Inventory i) {
        return String.format("%,d sessions, %,d subscriptions, %,d queued, %,d in-flight, %,d QoS 2 receive records, "
                        + "%,d bodies, %,d retained", i.sessions(), i.subscriptions(), i.queued(), i.inflight(),
                i.qos2Received(), i.bodies(), i.retained());
    }

    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dir", dir.toString());
        m.put("backup", backup.toString());
        m.put("reportFile", reportFile.toString());
        m.put("walDamage", walDamage);
        m.put("walTail", walTail == null ? null : walTail.tail().name());
        m.put("walTailWhere", walTail == null ? null : walTail.where());
        m.put("nothingAcknowledgedLost", durability == Durability.FSYNC ? nothingAcknowledgedLost() : null);
        m.put("durabilityStatement", durabilityStatement());
        m.put("damagedRanges", unreadable.stream().map(e -> {
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("description", e.describe());
            x.put("clientsInRange", clientsInRange(e));
            return x;
        }).toList());
        Map<String, Object> counts = new LinkedHashMap<>();
        unreadableCounts.forEach((c, n) -> counts.put(c.cfName(), n));
        m.put("unreadableRecordsEstimate", counts);
        m.put("before", totalsMap(before));
        m.put("after", totalsMap(after));
        Map<String, Object> d = new LinkedHashMap<>();
        dropped.forEach((r, n) -> d.put(r.name(), n));
        m.put("dropped", d);
        Map<String, Object> lost = new LinkedHashMap<>();
        for (ClientLoss l : losses()) {
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("session", l.session());
            x.put("subscriptions", l.subscriptions());
            x.put("queued", l.queued());
            x.put("inflight", l.inflight());
            x.put("qos2Received", l.qos2Received());
            lost.put(l.clientId(), x);
        }
        m.put("lostPerClient", lost);
        m.put("retainedLost", before.retained() - after.retained());
        m.put("nothingLost", nothingLost());
        return Json.write(m);
    }

    private static Map<String, Object> totalsMap(Inventory i) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("sessions", i.sessions());
        m.put("subscriptions", i.subscriptions());
        m.put("queued", i.queued());
        m.put("inflight", i.inflight());
        m.put("qos2Received", i.qos2Received());
        m.put("bodies", i.bodies());
        m.put("retained", i.retained());
        return m;
    }
}
