package io.durablemq.broker.cluster;

import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;

/** A node's HTTP endpoints (/ready, /metrics, /cluster, /admin/...) on 127.0.0.1, for the broker's cluster tests. */
final class NodeHttp {
    private NodeHttp() {
    }

    record Answer(int status, String body) {
    }

    static int status(int port, String path) throws IOException {
        HttpURLConnection c = open(port, path, 2_000, 5_000);
        try {
            return c.getResponseCode();
        } finally {
            c.disconnect();
        }
    }

    static String body(int port, String path) throws IOException {
        HttpURLConnection c = open(port, path, 2_000, 5_000);
        try (InputStream in = c.getInputStream()) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            c.disconnect();
        }
    }

    /** A POST; the body of an error answer too. */
    static Answer post(int port, String path) throws IOException {
        HttpURLConnection c = open(port, path, 5_000, 60_000);
        c.setRequestMethod("POST");
        int status = c.getResponseCode();
        try (InputStream in = status < 400 ? c.getInputStream() : c.getErrorStream()) {
            return new Answer(status, in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    private static HttpURLConnection open(int port, String path, int connectMillis, int readMillis) throws IOException {
        HttpURLConnection c = (HttpURLConnection) URI.create("http://127.0.0.1:" + port + path).toURL().openConnection();
        c.setConnectTimeout(connectMillis);
        c.setReadTimeout(readMillis);
        return c;
    }
}
