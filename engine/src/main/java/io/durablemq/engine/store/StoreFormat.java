package io.durablemq.engine.store;

/**
 * The on-disk format version, stored in the meta column family. Bump {@link #CURRENT} on any
 * change of a key or value layout; a store of a newer version refuses to open.
 */
public final class StoreFormat {
    public static final int CURRENT = 2;
    public static final byte[] VERSION_KEY = Keys.utf8("format-version");
    public static final byte[] CREATED_KEY = Keys.utf8("created-at-millis");

    private StoreFormat() {
    }
}
