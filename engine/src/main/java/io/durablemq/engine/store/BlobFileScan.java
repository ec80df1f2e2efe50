package io.durablemq.engine.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * Reads the framing of RocksDB blob files ({@code *.blob}, where bodies of 4 KiB and more live:
 * {@code ColumnOptions}) and checks every checksum in them, naming the file and offset of the
 * first damage.
 *
 * <p>Why it exists: RocksDB's {@code verifyChecksum} reads SST files only, and a read that meets a
 * damaged blob answers {@code Blob CRC mismatch} (or {@code Column family ID mismatch}, or a footer
 * error) without naming the file; a flipped byte in a blob file would otherwise be found only
 * when its body is read, and then not located. The format (RocksDB's {@code blob_log_format.h},
 * little-endian): a 30-byte header (magic, version, column family id, compression, TTL flag,
 * expiration range; no checksum), then records, each a 32-byte header (key length u64, value
 * length u64, expiration u64, masked CRC32C of those 24 bytes, masked CRC32C of key and value)
 * followed by the key and the value, and a 32-byte footer (magic, record count u64, expiration
 * range, masked CRC32C of its first 28 bytes). A live blob file is always complete: RocksDB adds
 * it to the store only after writing its footer.
 */
public final class BlobFileScan {
    static final int MAGIC = 0x00248f37; // RocksDB kMagicNumber 2395959
    static final int HEADER_BYTES = 30;
    static final int RECORD_HEADER_BYTES = 32;
    static final int FOOTER_BYTES = 32;
    private static final int MASK_DELTA = 0xa282ead8;
    private static final int CHUNK = 64 * 1024;

    /**
     * One file's verdict.
     *
     * @param records        records whose checksums held (up to the damage, if any)
     * @param badOffset      offset of the first damaged structure, -1 if none
     * @param reason         what is wrong there, null if nothing
     * @param damagedKey     the key of the damaged record when its header was intact, else null
     */
    public record Result(Path file, long records, long badOffset, String reason, byte[] damagedKey) {
        public boolean damaged() {
            return badOffset >= 0;
        }

        /** "blob file 000123.blob: the record at offset 4567 (key: message id 89) fails its checksum". */
        public String describe() {
            if (!damaged()) {
                return "blob file " + file.getFileName() + ": " + records + " records, all checksums hold";
            }
            StringBuilder b = new StringBuilder("blob file ").append(file.getFileName()).append(": ").append(reason)
                    .append(" at offset ").append(badOffset);
            if (damagedKey != null) {
                b.append(" (key: ").append(keyText(damagedKey)).append(')');
            }
            return b.toString();
        }
    }

    private BlobFileScan() {
    }

    /** The blob files of the folder, oldest (lowest number) first. */
    public static List<Path> blobFiles(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".blob")).sorted().toList();
        }
    }

    /** Every damaged blob file of the folder (empty when all checksums hold or there are none). */
    public static List<Result> damaged(Path dir) throws IOException {
        return damaged(dir, f -> true);
    }

    /** Every damaged blob file of the folder among those {@code which} accepts. */
    public static List<Result> damaged(Path dir, java.util.function.Predicate<Path> which) throws IOException {
        List<Result> out = new ArrayList<>();
        for (Path f : blobFiles(dir)) {
            if (!which.test(f)) {
                continue;
            }
            Result r = scan(f);
            if (r.damaged()) {
                out.add(r);
            }
        }
        return out;
    }

    public static Result scan(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < HEADER_BYTES + FOOTER_BYTES) {
                return new Result(file, 0, 0, "is " + size + " bytes, shorter than a blob file's header and footer", null);
            }
            ByteBuffer header = read(ch, 0, HEADER_BYTES);
            if (header.getInt(0) != MAGIC) {
                return new Result(file, 0, 0, "the header's magic number is wrong", null);
            }
            long footerAt = size - FOOTER_BYTES;
            ByteBuffer footer = read(ch, footerAt, FOOTER_BYTES);
            if (footer.getInt(0) != MAGIC || masked(crc(footer, 0, 28)) != footer.getInt(28)) {
                return new Result(file, 0, footerAt, "the footer fails its magic number or checksum", null);
            }
            long expected = footer.getLong(4);
            long pos = HEADER_BYTES;
            long records = 0;
            byte[] chunk = new byte[CHUNK];
            while (pos < footerAt) {
                if (footerAt - pos < RECORD_HEADER_BYTES) {
                    return new Result(file, records, pos, "a record header runs into the footer", null);
                }
                ByteBuffer rh = read(ch, pos, RECORD_HEADER_BYTES);
                if (masked(crc(rh, 0, 24)) != rh.getInt(24)) {
                    return new Result(file, records, pos, "a record header fails its checksum", null);
                }
                long keyLength = rh.getLong(0);
                long valueLength = rh.getLong(8);
                long bodyAt = pos + RECORD_HEADER_BYTES;
                if (keyLength < 0 || valueLength < 0 || keyLength > footerAt - bodyAt || valueLength > footerAt - bodyAt - keyLength) {
                    return new Result(file, records, pos, "a record's length runs past the footer", null);
                }
                byte[] key = new byte[(int) Math.min(keyLength, 1 << 16)];
                ch.read(ByteBuffer.wrap(key), bodyAt);
                CRC32C crc = new CRC32C();
                long at = bodyAt;
                long end = bodyAt + keyLength + valueLength;
                while (at < end) {
                    int n = (int) Math.min(CHUNK, end - at);
                    ByteBuffer b = ByteBuffer.wrap(chunk, 0, n);
                    while (b.hasRemaining()) {
                        if (ch.read(b, at + b.position()) < 0) {
                            throw new IOException(file + " ended while reading at " + (at + b.position()));
                        }
                    }
                    crc.update(chunk, 0, n);
                    at += n;
                }
                if (masked((int) crc.getValue()) != rh.getInt(28)) {
                    return new Result(file, records, pos, "a record's key and value fail their checksum", key);
                }
                records++;
                pos = end;
            }
            if (records != expected) {
                return new Result(file, records, footerAt, "the footer counts " + expected + " records, the file holds " + records, null);
            }
            return new Result(file, records, -1, null, null);
        }
    }

    private static ByteBuffer read(FileChannel ch, long at, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (ch.read(b, at + b.position()) < 0) {
                throw new IOException("end of file at " + (at + b.position()));
            }
        }
        return b.flip();
    }

    private static int crc(ByteBuffer b, int from, int length) {
        CRC32C c = new CRC32C();
        c.update(b.array(), b.arrayOffset() + from, length);
        return (int) c.getValue();
    }

    /** RocksDB's masked CRC (util/crc32c.h): stored checksums are rotated and offset. */
    private static int masked(int crc) {
        return ((crc >>> 15) | (crc << 17)) + MASK_DELTA;
    }

    private static String keyText(byte[] key) {
        if (key.length == 8) {
            return "message id " + ByteBuffer.wrap(key).getLong();
        }
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < Math.min(key.length, 32); i++) {
            b.append(String.format("%02x", key[i]));
        }
        return b.toString();
    }
}
