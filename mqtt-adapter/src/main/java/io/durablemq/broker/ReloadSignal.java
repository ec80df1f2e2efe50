package io.durablemq.broker;

import sun.misc.Signal;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * SIGHUP reloads the password and ACL files (as in Mosquitto; {@code systemctl reload}), instead
 * of the JVM's default for HUP, which is to shut down. The reload runs on its own thread, never
 * on the signal thread; signals arriving while one runs are folded into one more reload, so the
 * last file written is always read.
 */
final class ReloadSignal {
    private ReloadSignal() {
    }

    /**
     * @return false when signal handling is not available (then SIGHUP keeps the JVM's default) or
     *         SIGHUP was ignored when the process started (nohup): it stays ignored
     */
    static boolean install(Runnable reload) {
        // One worker, at most one waiting reload: a burst of signals costs two reloads, not one each.
        ExecutorService worker = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS,
                new LinkedBlockingQueue<>(1), r -> {
                    Thread t = new Thread(r, "durablemq-reload");
                    t.setDaemon(true);
                    return t;
                }, new ThreadPoolExecutor.DiscardPolicy());
        try {
            sun.misc.SignalHandler before = Signal.handle(new Signal("HUP"), sig -> worker.execute(reload));
            if (before == sun.misc.SignalHandler.SIG_IGN) {
                // Started with SIGHUP ignored (nohup, or a parent that ignores it): the JVM keeps it
                // ignored and installs nothing, so a HUP would silently do nothing.
                worker.shutdown();
                return false;
            }
            return true;
        } catch (Throwable e) { // no sun.misc.Signal, or HUP reserved (-Xrs)
            worker.shutdown();
            return false;
        }
    }
}
