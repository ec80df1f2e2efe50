package io.durablemq.engine.repair;

import io.durablemq.engine.store.WalDamage;

/**
 * Repair's finding about a damaged WAL: where the first damaged record is and whether the
 * damage is confined to the tail of the newest WAL file. Two independent readings must agree
 * before it says "confined": DurableMQ's own scan of the WAL framing ({@link WalDamage}: nothing
 * valid after the damaged record, newest file) and RocksDB's point-in-time recovery, which must
 * have recovered exactly up to the last whole write batch before the damaged record. If they
 * disagree, or the bytes after the damage cannot be framed, the finding is {@code UNKNOWN}.
 *
 * @param tail              the verdict
 * @param where             the damaged file and offset, and what follows it (or why it cannot be told)
 * @param scannedSequence   last sequence number of the last whole batch before the damage (-1 if none)
 * @param recoveredSequence the sequence number point-in-time recovery reached (-1 if not read)
 */
public record WalTailCheck(WalDamage.Tail tail, String where, long scannedSequence, long recoveredSequence) {

    /** Combines the scan with what point-in-time recovery reached; {@code damage} null: the scan found no bad record. */
    static WalTailCheck of(WalDamage damage, long recoveredSequence) {
        if (damage == null) {
            return new WalTailCheck(WalDamage.Tail.UNKNOWN, "no WAL record fails its checksum by DurableMQ's own reading"
                    + " of the WAL files, so where the damage RocksDB reported lies cannot be told", -1, recoveredSequence);
        }
        long scanned = damage.scan().lastWholeBatchSequence();
        if (damage.tail() == WalDamage.Tail.CONFINED && scanned >= 0 && scanned != recoveredSequence) {
            return new WalTailCheck(WalDamage.Tail.UNKNOWN, damage.where() + "; but point-in-time recovery reached sequence "
                    + recoveredSequence + " while the last whole write before the damage ends at " + scanned
                    + ", so whether it was confined to the tail cannot be told", scanned, recoveredSequence);
        }
        String agreement = damage.tail() == WalDamage.Tail.CONFINED && scanned >= 0
                ? " (point-in-time recovery reached sequence " + recoveredSequence + ", the end of the last whole write before it)"
                : "";
        return new WalTailCheck(damage.tail(), damage.where() + agreement, scanned, recoveredSequence);
    }

    public boolean confined() {
        return tail == WalDamage.Tail.CONFINED;
    }
}
