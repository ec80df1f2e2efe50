package io.durablemq.broker.chaos;

/**
 * A power cut at each kill point: the broker is SIGKILLed and gone, then LazyFS drops every write
 * that was not fsynced ({@code lazyfs::clear-cache}) before the broker restarts on the same folder.
 */
final class PowerCut implements Fault {
    private final LazyFs fs;
    private int cuts;
    private int hungStarts;

    PowerCut(LazyFs fs) {
        this.fs = fs;
    }

    @Override
    public void afterKill() throws Exception {
        fs.clearCache();
        cuts++;
    }

    /**
     * Once in about a hundred cuts on a loaded machine, a restarted broker hung waiting on the
     * LazyFS mount while LazyFS's threads sat idle: a fault of the test's file system, not of the
     * broker. Killing LazyFS drops its cache (every unsynced write), which is one more power cut,
     * so the run goes on under the same rules; the count is reported.
     */
    @Override
    public boolean recoverHungStart(BrokerUnderTest broker) throws Exception {
        broker.kill();
        fs.killAndRemount();
        hungStarts++;
        return true;
    }

    /** Broker starts that hung on the mount and were ended by killing LazyFS (one more power cut each). */
    int hungStarts() {
        return hungStarts;
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
