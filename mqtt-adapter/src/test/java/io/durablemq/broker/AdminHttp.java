package io.durablemq.broker;

import io.durablemq.broker.config.BrokerConfig;

import java.io.IOException;
import java.net.BindException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** A broker with its metrics/admin port on a free loopback port, and plain HTTP calls to it. */
final class AdminHttp {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private AdminHttp() {
    }

    /** The metrics port cannot be 0 (that disables it), so a free port is chosen, with retries for races. */
    static BrokerServer startWithMetrics(BrokerConfig base) throws Exception {
        BindException last = null;
        for (int attempt = 0; attempt < 5; attempt++) {
            try {
                return BrokerServer.start(base.toBuilder().metricsPort(TestBrokers.freePort()).build());
            } catch (BindException e) {
                last = e;
            }
        }
        throw last;
    }

    static URI uri(BrokerServer broker, String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + broker.metricsPort() + pathAndQuery);
    }

    static HttpResponse<String> send(String method, URI uri) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(120))
                .method(method, HttpRequest.BodyPublishers.noBody()).build();
        return HTTP.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }
}
