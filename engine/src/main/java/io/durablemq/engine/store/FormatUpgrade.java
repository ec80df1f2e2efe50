package io.durablemq.engine.store;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.Collection;
import java.util.Set;

/**
 * The store's part of bringing an older format to {@link StoreFormat#CURRENT}: format 2 added the
 * {@code wills} and {@code refcounts} column families, which {@code Store.open} creates on a format-1 store
 * ({@link #missingColumnsAreAddedOnes}). It writes no record: the engine's
 * {@code queue.QueueCountersUpgrade} rewrites the session records and writes version 2 last, so a
 * crash at any point leaves format 1 (a format-1 store may have the new, empty column family)
 * and the next open redoes the whole upgrade.
 */
final class FormatUpgrade {
    private static final Logger log = LoggerFactory.getLogger(FormatUpgrade.class);

    /** Column families that formats after 1 added; a format-1 store lacks them. */
    static final Set<String> ADDED_SINCE_1 = Set.of(StoreColumn.WILLS.cfName(), StoreColumn.REFCOUNTS.cfName());

    private FormatUpgrade() {
    }

    /** True when every missing column family is one a newer format added (so the open may create them). */
    static boolean missingColumnsAreAddedOnes(Collection<String> missing) {
        return !missing.isEmpty() && ADDED_SINCE_1.containsAll(missing);
    }

    /** A format-{@code from} store was opened: its added column families exist now; the engine upgrades its records. */
    static void columnsAdded(Path dir, int from) {
        log.debug("store in {} is format {}: column families {} present, records upgraded by the engine",
                dir.toAbsolutePath(), from, ADDED_SINCE_1);
    }
}
