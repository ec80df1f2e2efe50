package io.durablemq.engine.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * Reads the framing of one RocksDB WAL file ({@code NNNNNN.log}) and checks every physical
 * record's checksum, independently of RocksDB, to say where a damaged record is and whether
 * anything valid follows it. RocksDB's open only says "checksum mismatch"; this names the file
 * and the offset, and tells a damaged <em>tail</em> (what a power cut during the last write
 * leaves) from damage with valid records after it.
 *
 * <p>The format (RocksDB {@code db/log_format.h}): 32 KiB blocks; each physical record is a
 * header (masked CRC32C, 2-byte little-endian length, 1-byte type; recyclable types add a
 * 4-byte log number) and its payload; a record never crosses a block boundary, and fewer than
 * 7 bytes left in a block are zero padding. The checksum covers the type byte, the log number
 * (recyclable types) and the payload. A write batch larger than a block is split into FIRST,
 * MIDDLE and LAST fragments. After the first damaged record every offset to the end of the file
 * is tried for a valid record that starts a write, so neither a damaged length field nor bytes
 * that frame as nothing can hide one.
 */
public final class WalFileScan {
    static final int BLOCK = 32 * 1024;
    private static final int HEADER = 7;
    private static final int RECYCLABLE_HEADER = 11;
    private static final int MASK_DELTA = 0xa282ead8;

    private static final int FULL = 1;
    private static final int FIRST = 2;
    private static final int MIDDLE = 3;
    private static final int LAST = 4;

    /** What follows the first damaged record of a file. */
    public enum After {
        /** No damaged record: every record's checksum holds (a record cut short by the file's end counts as cut, not damaged). */
        NO_DAMAGE,
        /** No valid record that starts a write follows it, at any offset: the damage is the file's tail. */
        NOTHING,
        /** A valid record that starts a write (a whole batch or its first fragment) follows it. */
        VALID_WRITE
    }

    /**
     * @param firstBadOffset   offset of the first physical record whose checksum fails (-1 if none)
     * @param firstBadReason   what is wrong with it (fails its checksum, a fragment whose write's start or
     *                         rest is missing, a length crossing its block)
     * @param after            what follows it
     * @param validAfter       offset of the first valid write after it (-1 if none)
     * @param cutShortAt       offset of a last record the file's end cuts short (-1 if none): RocksDB tolerates that
     * @param lastWholeBatchSequence the sequence number of the last write batch before the damage whose every
     *                         fragment is valid, plus its count minus one: the last sequence number a reader that stops
     *                         at the damage recovers from this file (-1 if it holds no whole batch before the damage)
     */
    public record Result(Path file, long length, int validRecords, long firstBadOffset, String firstBadReason,
                         After after, long validAfter, long cutShortAt, long lastWholeBatchSequence) {
        public boolean damaged() {
            return firstBadOffset >= 0;
        }
    }

    private WalFileScan() {
    }

    /**
     * The file mapped read-only, little-endian: a WAL may be hundreds of MB (up to the store's
     * 256 MB WAL limit), and a start with a small heap must not need that much of it.
     */
    private static ByteBuffer map(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size > Integer.MAX_VALUE) {
                throw new IOException(file + " is " + size + " bytes, larger than a WAL this scan reads");
            }
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, size).order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    public static Result scan(Path file) throws IOException {
        ByteBuffer data = map(file);
        int pos = 0;
        int valid = 0;
        long lastWholeSeq = -1;
        long pendingSeq = -1; // sequence end of a batch whose FIRST fragment was read, until its LAST arrives
        int writeStart = -1; // offset of the FIRST fragment of a write whose LAST has not been read yet
        int noValidWriteFrom = -1; // no valid write starts at or after this offset (found once, not re-searched)
        while (pos < data.limit()) {
            int leftInBlock = BLOCK - pos % BLOCK;
            if (leftInBlock < HEADER) {
                pos += leftInBlock; // trailer padding
                continue;
            }
            if (data.limit() - pos < HEADER) {
                return cutShort(file, data, valid, writeStart >= 0 ? writeStart : pos, lastWholeSeq);
            }
            Frame f = Frame.at(data, pos);
            if (f.type == 0 && f.length == 0 && allZero(data, pos, Math.min(data.limit(), pos + leftInBlock))) {
                if (writeStart >= 0 && pos + leftInBlock < data.limit()) {
                    // RocksDB: "error in middle of record"
                    return damagedAt(file, data, valid, writeStart, "starts a write whose continuation is missing", lastWholeSeq);
                }
                if (noValidWriteFrom < 0 || pos < noValidWriteFrom) {
                    // RocksDB's writer pads only fewer than 7 bytes at a block's end, so zeros from a
                    // record boundary to the block's end are preallocated space at the file's end, or
                    // damage (RocksDB reads them as padding and skips them without an error): damage
                    // when a valid write follows them
                    int later = allZero(data, pos + leftInBlock, data.limit()) ? -1
                            : validWriteWithin(data, pos + leftInBlock, data.limit());
                    if (later >= 0) {
                        return result(file, data, valid, pos, "is zeros to the end of its 32 KiB block (no record"
                                + " ends there)", After.VALID_WRITE, later, -1, lastWholeSeq);
                    }
                    noValidWriteFrom = pos;
                }
                pos += leftInBlock; // zero-filled (preallocated) space
                continue;
            }
            if (f.end() > data.limit() && f.end() <= pos + leftInBlock) {
                // the file ends inside this record: a write cut short (RocksDB's open tolerates it)
                return cutShort(file, data, valid, writeStart >= 0 ? writeStart : pos, lastWholeSeq);
            }
            if (f.end() > pos + leftInBlock) {
                return damagedAt(file, data, valid, pos, "has a length that crosses its 32 KiB block", lastWholeSeq);
            }
            if (!f.checksumOk(data, f.end())) {
                return damagedAt(file, data, valid, pos, "fails its checksum", lastWholeSeq);
            }
            int base = baseType(f.type);
            if ((base == MIDDLE || base == LAST) && writeStart < 0) {
                // RocksDB: "missing start of fragmented record"
                return damagedAt(file, data, valid, pos, "continues a write whose start is missing", lastWholeSeq);
            }
            if ((base == FULL || base == FIRST) && writeStart >= 0) {
                // RocksDB: "partial record without end"
                return damagedAt(file, data, valid, writeStart, "starts a write whose continuation is missing", lastWholeSeq);
            }
            valid++;
            writeStart = base == FIRST ? pos : base == LAST ? -1 : writeStart;
            if (base == FULL || base == FIRST) {
                long seqEnd = f.payloadLength() >= 12 ? batchEnd(data, f.payloadStart()) : -1;
                if (base == FULL) {
                    lastWholeSeq = seqEnd >= 0 ? seqEnd : lastWholeSeq;
                    pendingSeq = -1;
                } else {
                    pendingSeq = seqEnd;
                }
            } else if (base == LAST && pendingSeq >= 0) {
                lastWholeSeq = pendingSeq;
                pendingSeq = -1;
            }
            pos = f.end();
        }
        // a write whose FIRST fragment is the file's last record: cut short (RocksDB ignores it)
        return writeStart >= 0 ? cutShort(file, data, valid, writeStart, lastWholeSeq)
                : result(file, data, valid, -1, null, After.NO_DAMAGE, -1, -1, lastWholeSeq);
    }

    private static Result cutShort(Path file, ByteBuffer data, int valid, int at, long lastWholeSeq) {
        return result(file, data, valid, -1, null, After.NO_DAMAGE, -1, at, lastWholeSeq);
    }

    private static Result result(Path file, ByteBuffer data, int valid, long bad, String reason, After after, long validAfter,
                                 long cutShortAt, long lastWholeSeq) {
        return new Result(file, data.limit(), valid, bad, reason, after, validAfter, cutShortAt, lastWholeSeq);
    }

    /**
     * After a damaged record: is there a valid record that starts a write (FULL or FIRST) anywhere
     * between it and the end of the file? Every offset is tried, not only the record boundaries
     * the damaged record's length points to: that length may be damaged too, and a torn write can
     * leave bytes that frame as nothing (e.g. a zeroed header followed by the write's persisted
     * end). Fragments continuing a write (MIDDLE, LAST) belong to the damaged write and do not count.
     */
    private static Result damagedAt(Path file, ByteBuffer data, int valid, int bad, String reason, long lastWholeSeq) {
        int later = validWriteWithin(data, bad + 1, data.limit());
        return result(file, data, valid, bad, reason, later >= 0 ? After.VALID_WRITE : After.NOTHING, later, -1,
                lastWholeSeq);
    }

    /** The first offset in [from, to) where a valid FULL or FIRST record starts, or -1. */
    private static int validWriteWithin(ByteBuffer data, int from, int to) {
        for (int p = from; p + HEADER <= to; p++) {
            if (BLOCK - p % BLOCK < HEADER) {
                continue; // block trailer: no record starts here
            }
            int type = data.get(p + 6) & 0xff;
            int base = baseType(type);
            if (base != FULL && base != FIRST) {
                continue;
            }
            Frame f = Frame.at(data, p);
            int blockEnd = (p / BLOCK + 1) * BLOCK;
            if (f.length() > 0 && f.end() <= data.limit() && f.end() <= blockEnd && f.checksumOk(data, f.end())) {
                return p;
            }
        }
        return -1;
    }

    /** Recyclable record types (5..8) are the legacy ones (1..4) with a log number in the header. */
    private static int baseType(int type) {
        return type >= 5 && type <= 8 ? type - 4 : type;
    }

    /** A write batch starts with its first sequence number (8 bytes) and its count (4 bytes), little-endian. */
    private static long batchEnd(ByteBuffer data, int payloadStart) {
        long seq = data.getLong(payloadStart);
        int count = data.getInt(payloadStart + 8);
        return count > 0 ? seq + count - 1 : seq;
    }

    private static boolean allZero(ByteBuffer data, int from, int to) {
        for (int i = from; i < to; i++) {
            if (data.get(i) != 0) {
                return false;
            }
        }
        return true;
    }

    private record Frame(int pos, int storedCrc, int length, int type, int headerSize) {
        static Frame at(ByteBuffer data, int pos) {
            int crc = data.getInt(pos);
            int length = data.getShort(pos + 4) & 0xffff;
            int type = data.get(pos + 6) & 0xff;
            boolean recyclable = (type >= 5 && type <= 8) || type == 11 || type == 131;
            return new Frame(pos, crc, length, type, recyclable ? RECYCLABLE_HEADER : HEADER);
        }

        int payloadStart() {
            return pos + headerSize;
        }

        int payloadLength() {
            return length;
        }

        int end() {
            return pos + headerSize + length;
        }

        /** The checksum over the type byte, the log number (recyclable) and the payload, up to {@code end}. */
        boolean checksumOk(ByteBuffer data, int end) {
            if (end > data.limit() || end < pos + headerSize) {
                return false;
            }
            CRC32C crc = new CRC32C();
            crc.update(data.duplicate().limit(end).position(pos + 6));
            int actual = (int) crc.getValue();
            int masked = ((actual >>> 15) | (actual << 17)) + MASK_DELTA;
            return masked == storedCrc;
        }
    }
}
