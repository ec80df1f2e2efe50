package io.durablemq.engine.store;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Reads the live WAL files before every open of the store ({@link Store#open}, so also the
 * engine's reopen after a failed write) and refuses damage that is not confined to the newest
 * WAL file's last write. RocksDB cannot be trusted with it: in every WAL recovery mode it reads
 * a zeroed record header as padding and skips the rest of that 32 KiB block without any error,
 * so zeros over a header before synced records (media damage) would open the store without
 * acknowledged writes. Damage confined to the last write is left to RocksDB's open, which drops
 * a cut-short or zero-header last write (never acknowledged: its fsync had not returned) and
 * refuses a full-length last record with a hole ({@link WalDamage#refusal} words that).
 *
 * <p>Cost: each WAL file is read once, sequentially, and its records' checksums computed
 * (engine README, "Recovery", has the measured figures).
 */
final class WalPreCheck {
    private WalPreCheck() {
    }

    /** Throws {@code CORRUPT} when valid writes follow a damaged WAL record, {@code IO_ERROR} when a WAL cannot be read. */
    static void refuseSkippableDamage(Path dir) throws StoreOpenException {
        Optional<WalDamage> damage;
        try {
            damage = WalDamage.find(dir);
        } catch (IOException | RuntimeException e) {
            throw new StoreOpenException(StoreOpenException.Reason.IO_ERROR, dir,
                    "cannot read the WAL files to check them before the open: " + e, e);
        }
        if (damage.isPresent() && damage.get().tail() == WalDamage.Tail.NOT_CONFINED) {
            throw new StoreOpenException(StoreOpenException.Reason.CORRUPT, dir, damage.get().skippedWritesRefusal(dir), null);
        }
    }
}
