package io.durablemq.bench.load;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;

/**
 * Where the broker listens: {@code tcp://host:port} (also {@code mqtt://}, or a bare
 * {@code host:port}). TLS and WebSocket listeners are out of scope for the load generator.
 */
public record BrokerUrl(String host, int port) {

    public BrokerUrl {
        if (host == null || host.isBlank()) {
            throw new IllegalArgumentException("broker host is empty");
        }
        if (port < 1 || port > 65_535) {
            throw new IllegalArgumentException("broker port must be 1..65535: " + port);
        }
    }

    public static BrokerUrl parse(String text) {
        String trimmed = text.trim();
        String withScheme = trimmed.contains("://") ? trimmed : "tcp://" + trimmed;
        URI uri;
        try {
            uri = new URI(withScheme);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("not a broker URL: '" + text + "' (expected tcp://host:port)", e);
        }
        String scheme = uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("tcp") && !scheme.equals("mqtt")) {
            throw new IllegalArgumentException("unsupported scheme '" + scheme + "' in '" + text
                    + "': the load generator speaks plain MQTT over TCP (tcp://host:port)");
        }
        if (uri.getHost() == null) {
            throw new IllegalArgumentException("no host in broker URL '" + text + "'");
        }
        int port = uri.getPort() == -1 ? 1883 : uri.getPort();
        return new BrokerUrl(uri.getHost(), port);
    }

    /** Loopback hosts: runs against anything else need an explicit opt-in. */
    public boolean isLoopback() {
        return host.equals("localhost") || host.startsWith("127.") || host.equals("::1") || host.equals("[::1]");
    }

    @Override
    public String toString() {
        return "tcp://" + host + ":" + port;
    }
}
