package io.durablemq.engine.check;

import io.durablemq.engine.store.StoreColumn;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;

import java.math.BigInteger;
import java.util.Arrays;

/**
 * Finds where reading can go on after a damaged block, for repair's salvage scan. A seek
 * reads only the block that may hold its target, so "seeking to X fails" is true exactly for
 * targets that fall into the damaged block's key range (after the last key read before it).
 * A bisection over the key space between that last good key and the largest possible key
 * finds the smallest target that seeks without error: reading resumes there, and only the
 * records of the damaged block (the ones nobody can read) are skipped. Keys are compared as
 * fixed-length big-endian numbers, padded with zero bytes, which keeps RocksDB's bytewise order.
 */
final class DamageSkip {
    /** Bytes of precision below the last good key's length: far more than any key layout varies by. */
    private static final int EXTRA_BYTES = 16;

    private DamageSkip() {
    }

    /**
     * @param lastGood the last key read before the error, or null if the first block failed
     * @return a seek target past the damaged range, or null if no target after {@code lastGood} can be read
     */
    static byte[] targetPast(ColumnSource source, StoreColumn column, ReadOptions options, byte[] lastGood) {
        byte[] lo0 = lastGood == null ? new byte[0] : lastGood;
        int len = Math.max(lo0.length, 8) + EXTRA_BYTES;
        BigInteger lo = toNumber(lo0, len);
        BigInteger hi = BigInteger.ONE.shiftLeft(8 * len).subtract(BigInteger.ONE);
        if (seekFails(source, column, options, toBytes(hi, len))) {
            return null;
        }
        while (hi.subtract(lo).compareTo(BigInteger.ONE) > 0) {
            BigInteger mid = lo.add(hi).shiftRight(1);
            if (seekFails(source, column, options, toBytes(mid, len))) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return toBytes(hi, len);
    }

    private static boolean seekFails(ColumnSource source, StoreColumn column, ReadOptions options, byte[] target) {
        try (RocksIterator it = source.iterator(column, options)) {
            it.seek(target);
            if (it.isValid()) {
                return false;
            }
            try {
                it.status();
                return false;
            } catch (RocksDBException e) {
                return true;
            }
        }
    }

    private static BigInteger toNumber(byte[] key, int len) {
        return new BigInteger(1, Arrays.copyOf(key, len));
    }

    private static byte[] toBytes(BigInteger n, int len) {
        byte[] raw = n.toByteArray();
        byte[] out = new byte[len];
        int copy = Math.min(raw.length, len);
        System.arraycopy(raw, raw.length - copy, out, len - copy, copy);
        return out;
    }
}
