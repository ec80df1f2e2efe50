package io.durablemq.broker.tls;

import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.config.TlsSettings;
import io.netty.handler.ssl.SslContext;

/** Builds Netty server TLS contexts (work in progress). */
public final class SslContexts {
    private SslContexts() { }

    public static SslContext serverContext(TlsSettings tls) throws BrokerConfigException {
        throw new BrokerConfigException("TLS not implemented yet");
    }
}
