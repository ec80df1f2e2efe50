package io.durablemq.broker.chaos;

/**
 * A power cut at each kill point: the broker is SIGKILLed and gone, then LazyFS drops every write
 * that was not fsynced ({@code lazyfs::clear-cache}) before the broker restarts on the same folder.
 */
final class PowerCut implements Fault {
    private final LazyFs fs;
    private int cuts;

    PowerCut(LazyFs fs) {
        this.fs = fs;
    }

    @Override
    public void afterKill() throws Exception {
        fs.clearCache();
        cuts++;
    }

    /** Cache clears LazyFS confirmed. */
    int cuts() {
        return cuts;
    }

    @Override
    public String toString() {
        return "SIGKILL + power cut (lazyfs::clear-cache)";
    }
}
