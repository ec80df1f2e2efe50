package io.durablemq.engine.store;

import java.util.Locale;

/** How far a commit goes before the engine calls it durable. */
public enum Durability {
    /** RocksDB write with sync: the WAL is fsynced. Survives power loss. */
    FSYNC,
    /** WAL written to the OS without fsync. Survives a process crash, not a power loss. */
    OS;

    public static Durability parse(String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "fsync" -> FSYNC;
            case "os" -> OS;
            default -> throw new IllegalArgumentException("unknown durability '" + text + "': use fsync or os");
        };
    }
}
