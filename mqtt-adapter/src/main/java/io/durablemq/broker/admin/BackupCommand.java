package io.durablemq.broker.admin;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import picocli.CommandLine.Command;
import picocli.CommandLine.IExitCodeGenerator;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.URI;
import java.net.URLEncoder;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * {@code durablemq backup}: asks the running broker (its metrics port, on loopback) for an
 * online backup and prints the answer (a JSON object with the backup's path, size and time).
 * The broker writes it into its {@code backup_dir}; see ops/README.md, "Backup and restore".
 */
@Command(name = "backup", mixinStandardHelpOptions = true,
        description = {"Ask the running broker for an online backup of its store (a RocksDB checkpoint),",
                "written into the broker's backup_dir while clients keep publishing.",
                "Restore: start a broker with data_path set to the backup folder (or a copy of it)."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:backup written (its path is printed)", "1:refused or failed (the broker's reason is printed)",
                "2:bad options or config file"})
public final class BackupCommand implements Runnable, IExitCodeGenerator {

    @Option(names = "--metrics-url", paramLabel = "URL",
            description = "the broker's metrics endpoint (default: http://127.0.0.1:9400, or from --config)")
    String metricsUrl;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "read metrics_host and metrics_endpoint_port from the broker's config file")
    Path configFile;

    @Option(names = "--name", paramLabel = "NAME",
            description = "folder name inside backup_dir (A-Z a-z 0-9 . _ -; default backup-<UTC time>)")
    String name;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "600",
            description = "how long to wait for the broker's answer (default: ${DEFAULT-VALUE})")
    int timeoutSeconds;

    @Spec
    CommandSpec spec;

    private int exitCode;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        exitCode = 2;
        URI uri;
        try {
            uri = URI.create(base() + BackupEndpoint.PATH
                    + (name == null ? "" : "?name=" + URLEncoder.encode(name, StandardCharsets.UTF_8)));
        } catch (BrokerConfigException | IllegalArgumentException e) {
            err.println("backup: " + e.getMessage());
            return;
        }
        exitCode = 1;
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(timeoutSeconds))
                .POST(HttpRequest.BodyPublishers.noBody()).build();
        try {
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            String body = response.body().strip();
            if (response.statusCode() == 200) {
                out.println(body);
                exitCode = 0;
            } else {
                err.println("backup: the broker answered " + response.statusCode() + ": " + body);
            }
        } catch (IOException e) {
            err.println("backup: cannot reach the broker at " + uri + " (is it running, with its metrics port enabled?): " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            err.println("backup: interrupted; the broker may still finish the backup");
        }
    }

    private String base() throws BrokerConfigException {
        if (metricsUrl != null && configFile != null) {
            throw new IllegalArgumentException("give --metrics-url or --config, not both");
        }
        if (metricsUrl != null) {
            return metricsUrl.replaceAll("/+$", "");
        }
        if (configFile == null) {
            return "http://127.0.0.1:" + BrokerConfig.DEFAULT_METRICS_PORT;
        }
        BrokerConfig config = BrokerConfig.load(configFile);
        if (config.metricsPort() == 0) {
            throw new IllegalArgumentException(configFile + ": metrics_endpoint_port is 0 (disabled): the broker takes no backup requests");
        }
        // The endpoint serves loopback callers only; a wildcard or loopback bind is reached on 127.0.0.1.
        String host = config.metricsHost();
        try {
            InetAddress a = InetAddress.getByName(host);
            if (a.isAnyLocalAddress() || a.isLoopbackAddress()) {
                host = a instanceof java.net.Inet6Address && a.isLoopbackAddress() ? "[::1]" : "127.0.0.1";
            }
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(configFile + ": metrics_host '" + host + "' does not resolve");
        }
        return "http://" + host + ":" + config.metricsPort();
    }

    @Override
    public int getExitCode() {
        return exitCode;
    }
}
