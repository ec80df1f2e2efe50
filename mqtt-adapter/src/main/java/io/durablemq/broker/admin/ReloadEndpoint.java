package io.durablemq.broker.admin;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import io.durablemq.broker.security.SecurityReloader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * {@code POST /admin/reload} on the metrics port: reads the password file and the ACL file
 * again, as SIGHUP does, for operators who cannot send signals (containers run by another
 * user, Windows). Callers on this host only, as for backups: the metrics port has no login.
 * <p>
 * Answers: 200 {@code {"result":"ok",...}}; 422 a file has an error (the previous rules stay;
 * the message names file, line and reason); 403 not from this host; 404 another path; 405 not POST.
 */
public final class ReloadEndpoint implements HttpHandler {
    private static final Logger LOG = LoggerFactory.getLogger(ReloadEndpoint.class);
    public static final String PATH = "/admin/reload";

    /** Reloads (or, on a cluster follower, checks) the files; the argument names the trigger for the log. */
    private final java.util.function.Function<String, SecurityReloader.Result> reloader;

    public ReloadEndpoint(SecurityReloader reloader) {
        this(reloader::reload);
    }

    public ReloadEndpoint(java.util.function.Function<String, SecurityReloader.Result> reloader) {
        this.reloader = reloader;
    }

    @Override
    public void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            InetSocketAddress peer = exchange.getRemoteAddress();
            if (!BackupEndpoint.fromThisHost(peer, exchange.getLocalAddress())) {
                LOG.warn("reload request from {} refused: only clients on this host may ask for a reload", peer);
                respond(exchange, 403, "error", "reloads are accepted from this host only (loopback)");
                return;
            }
            if (!PATH.equals(exchange.getRequestURI().getPath())) {
                respond(exchange, 404, "error", "unknown admin path " + exchange.getRequestURI().getPath());
                return;
            }
            if (!"POST".equals(exchange.getRequestMethod())) {
                exchange.getResponseHeaders().set("Allow", "POST");
                respond(exchange, 405, "error", "use POST " + PATH);
                return;
            }
            SecurityReloader.Result r = reloader.apply("POST " + PATH);
            respond(exchange, r.ok() ? 200 : 422, r.ok() ? "ok" : "failed", r.message());
        }
    }

    private static void respond(HttpExchange exchange, int status, String result, String message) throws IOException {
        byte[] body = ("{\"result\":" + BackupEndpoint.quote(result) + ",\"message\":" + BackupEndpoint.quote(message)
                + "}\n").getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }
}
