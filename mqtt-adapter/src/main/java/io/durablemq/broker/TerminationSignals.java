package io.durablemq.broker;

import sun.misc.Signal;

/**
 * Handles SIGTERM and SIGINT in-process so that a graceful stop exits 0. Uses
 * {@code sun.misc.Signal} (module jdk.unsupported, present in every HotSpot JDK 17+); if it is
 * missing the JVM's default handling (shutdown hooks) applies.
 */
final class TerminationSignals {
    private TerminationSignals() {
    }

    /** @return false when signal handling is not available */
    static boolean install(Runnable onSignal) {
        try {
            Thread[] running = new Thread[1];
            for (String name : new String[]{"TERM", "INT"}) {
                Signal.handle(new Signal(name), sig -> {
                    synchronized (running) {
                        if (running[0] == null) {
                            // Off the signal thread, so a slow close cannot block signal dispatch.
                            running[0] = new Thread(onSignal, "durablemq-stop");
                            running[0].start();
                        }
                    }
                });
            }
            return true;
        } catch (Throwable e) {
            return false;
        }
    }
}
