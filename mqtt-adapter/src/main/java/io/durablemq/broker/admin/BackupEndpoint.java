package io.durablemq.broker.admin;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import io.durablemq.engine.Engine;
import io.durablemq.engine.backup.BackupException;
import io.durablemq.engine.backup.BackupResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;

/**
 * {@code POST /admin/backup[?name=NAME]} on the metrics port: writes an online backup of the
 * store into {@code <backup_dir>/NAME} (default {@code backup-<UTC time>}) and answers with a
 * small JSON object. Only callers on this host are served (loopback, or the endpoint's own
 * address), whatever address the endpoint is bound to: a backup is a heavy, disk-filling
 * operation, and the metrics port has no authentication.
 *
 * <p>Answers: 200 written; 400 bad name or query; 403 not from loopback; 404 another path;
 * 405 not POST; 409 the target exists or another backup is running; 500 the copy failed;
 * 503 the engine is closed or returning to its last durable state.
 */
public final class BackupEndpoint implements HttpHandler {
    private static final Logger LOG = LoggerFactory.getLogger(BackupEndpoint.class);
    public static final String PATH = "/admin/backup";
    /** Plain names only: no separators, so a backup cannot be written outside backup_dir. */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,200}");
    private static final DateTimeFormatter STAMP =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss.SSS'Z'").withZone(ZoneOffset.UTC);

    /** What writes the copy: the engine (single node), or a cluster node from its own store. */
    public interface Source {
        Written backup(Path target) throws BackupException;
    }

    /**
     * A written backup and its consistent point as JSON members (the single node's
     * {@code "message_ids_below":N}, a cluster node's {@code "applied_index":N,...}).
     */
    public record Written(BackupResult result, String consistentPointJson) {
    }

    private final Source source;
    private final Path backupDir;
    private final BackupMetrics metrics;
    /** One backup at a time: a second request is refused rather than queued behind the first. */
    private final ReentrantLock running = new ReentrantLock();

    public BackupEndpoint(Engine engine, Path backupDir, BackupMetrics metrics) {
        this(target -> {
            BackupResult r = engine.backup(target);
            return new Written(r, "\"message_ids_below\":" + r.messageIdsBelow());
        }, backupDir, metrics);
    }

    public BackupEndpoint(Source source, Path backupDir, BackupMetrics metrics) {
        this.source = source;
        this.backupDir = backupDir;
        this.metrics = metrics;
    }

    @Override
    public void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            InetSocketAddress peer = exchange.getRemoteAddress();
            if (!fromThisHost(peer, exchange.getLocalAddress())) {
                LOG.warn("backup request from {} refused: only clients on this host may ask for a backup", peer);
                respond(exchange, 403, error("FORBIDDEN", "backups are accepted from this host only (loopback)"));
                return;
            }
            if (!PATH.equals(exchange.getRequestURI().getPath())) {
                respond(exchange, 404, error("NOT_FOUND", "unknown admin path " + exchange.getRequestURI().getPath()));
                return;
            }
            if (!"POST".equals(exchange.getRequestMethod())) {
                exchange.getResponseHeaders().set("Allow", "POST");
                respond(exchange, 405, error("METHOD_NOT_ALLOWED", "use POST " + PATH + "[?name=NAME]"));
                return;
            }
            String name;
            try {
                name = nameFrom(exchange.getRequestURI().getRawQuery());
            } catch (IllegalArgumentException e) {
                metrics.ended(BackupMetrics.Result.REFUSED);
                respond(exchange, 400, error("BAD_REQUEST", e.getMessage()));
                return;
            }
            if (!running.tryLock()) {
                metrics.ended(BackupMetrics.Result.REFUSED);
                respond(exchange, 409, error("BUSY", "another backup is running; try again when it has finished"));
                return;
            }
            try {
                backup(exchange, backupDir.resolve(name));
            } finally {
                running.unlock();
            }
        }
    }

    private void backup(HttpExchange exchange, Path target) throws IOException {
        LOG.info("online backup to {} requested", target.toAbsolutePath());
        long t0 = System.nanoTime();
        try {
            Written w = source.backup(target);
            BackupResult r = w.result();
            metrics.succeeded(System.nanoTime() - t0, r.bytes());
            respond(exchange, 200, "{\"result\":\"ok\",\"path\":" + quote(r.path().toString())
                    + ",\"started_at\":" + quote(r.startedAt().toString())
                    + ",\"milliseconds\":" + r.duration().toMillis()
                    + ",\"files\":" + r.files() + ",\"bytes\":" + r.bytes() + ",\"shared_bytes\":" + r.sharedBytes()
                    + "," + w.consistentPointJson() + "}");
        } catch (BackupException e) {
            int status = switch (e.reason()) {
                case TARGET_EXISTS, TARGET_INSIDE_STORE -> 409;
                case UNAVAILABLE -> 503;
                case IO_ERROR -> 500;
            };
            metrics.ended(status == 409 ? BackupMetrics.Result.REFUSED : BackupMetrics.Result.FAILED);
            if (status >= 500) {
                LOG.error("online backup failed: {}", e.getMessage(), e.getCause());
            } else {
                LOG.warn("online backup refused: {}", e.getMessage());
            }
            respond(exchange, status, error(e.reason().name(), e.getMessage()));
        } catch (RuntimeException e) {
            metrics.ended(BackupMetrics.Result.FAILED);
            LOG.error("online backup failed", e);
            respond(exchange, 500, error("IO_ERROR", e.toString()));
        }
    }

    /**
     * A loopback peer, or (the endpoint bound to one interface address) a peer whose address is
     * the very address it connected to: a connection from this host to its own interface.
     */
    static boolean fromThisHost(InetSocketAddress peer, InetSocketAddress local) {
        if (peer == null || peer.getAddress() == null) {
            return false;
        }
        return peer.getAddress().isLoopbackAddress()
                || (local != null && peer.getAddress().equals(local.getAddress()));
    }

    /** The backup's folder name: {@code name=} from the query, else {@code backup-<UTC time>}. */
    static String nameFrom(String rawQuery) {
        if (rawQuery == null || rawQuery.isEmpty()) {
            return "backup-" + STAMP.format(Instant.now());
        }
        String name = null;
        for (String part : rawQuery.split("&")) {
            int eq = part.indexOf('=');
            String key = eq < 0 ? part : part.substring(0, eq);
            if (!key.equals("name") || eq < 0 || name != null) {
                throw new IllegalArgumentException("the only query parameter is one name=NAME, got '" + rawQuery + "'");
            }
            name = java.net.URLDecoder.decode(part.substring(eq + 1), StandardCharsets.UTF_8);
        }
        if (!NAME.matcher(name).matches() || name.equals(".") || name.equals("..")) {
            throw new IllegalArgumentException("name '" + name + "' must be 1-200 of A-Z a-z 0-9 . _ - "
                    + "(a plain folder name inside backup_dir), and not . or ..");
        }
        return name;
    }

    private static String error(String reason, String message) {
        return "{\"result\":\"error\",\"reason\":" + quote(reason) + ",\"error\":" + quote(message) + "}";
    }

    private static void respond(HttpExchange exchange, int status, String json) throws IOException {
        byte[] body = (json + "\n").getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }

    static String quote(String s) {
        return io.durablemq.engine.check.Json.quote(s);
    }
}
