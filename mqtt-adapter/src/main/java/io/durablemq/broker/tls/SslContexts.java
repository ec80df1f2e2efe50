package io.durablemq.broker.tls;

import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.config.TlsSettings;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.KeyStoreException;
import java.security.UnrecoverableKeyException;
import java.security.cert.X509Certificate;
import java.util.Collections;
import java.util.Date;
import java.util.Locale;

/**
 * Netty server TLS contexts (JDK provider) from a JKS or PKCS12 key store, as Moquette's
 * {@code jks_path} keys describe. With {@code need_client_auth}, clients must present a
 * certificate trusted by the trust store (the key store itself unless {@code trust_store_path}
 * is set). Only TLS 1.3 and 1.2 are offered. Every problem is a {@link BrokerConfigException}
 * naming the config key to fix.
 */
public final class SslContexts {

    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    private SslContexts() {
    }

    public static SslContext serverContext(TlsSettings tls) throws BrokerConfigException {
        KeyStore keyStore = load(tls.keyStore(), tls.keyStoreType(), tls.keyStorePassword(),
                "jks_path", "key_store_password");
        checkHasKey(keyStore, tls.keyStore());
        KeyManagerFactory kmf;
        try {
            kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(keyStore, tls.keyManagerPassword().toCharArray());
        } catch (UnrecoverableKeyException e) {
            throw new BrokerConfigException("key_manager_password: cannot unlock the private key in "
                    + tls.keyStore() + " (wrong password?): " + e.getMessage(), e);
        } catch (GeneralSecurityException e) {
            throw new BrokerConfigException("jks_path: cannot use the key in " + tls.keyStore() + ": " + e, e);
        }
        SslContextBuilder builder = SslContextBuilder.forServer(kmf)
                .sslProvider(SslProvider.JDK)
                .protocols(PROTOCOLS);
        if (tls.needClientAuth()) {
            Path trustPath = tls.effectiveTrustStore();
            String pathKey = tls.trustStore() != null ? "trust_store_path" : "jks_path";
            String passwordKey = tls.trustStorePassword() != null ? "trust_store_password" : "key_store_password";
            KeyStore trustStore = load(trustPath, typeOf(trustPath, tls.keyStoreType()),
                    tls.effectiveTrustStorePassword(), pathKey, passwordKey);
            try {
                if (Collections.list(trustStore.aliases()).stream().noneMatch(a -> isCertificate(trustStore, a))) {
                    throw new BrokerConfigException(pathKey + ": " + trustPath
                            + " holds no certificate to trust client certificates with (need_client_auth is true)");
                }
                TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(trustStore);
                builder.trustManager(tmf).clientAuth(ClientAuth.REQUIRE);
            } catch (GeneralSecurityException e) {
                throw new BrokerConfigException(pathKey + ": cannot use " + trustPath + " as trust store: " + e, e);
            }
        } else {
            builder.clientAuth(ClientAuth.NONE);
        }
        try {
            return builder.build();
        } catch (SSLException e) {
            throw new BrokerConfigException("jks_path: cannot build a TLS context from " + tls.keyStore() + ": " + e, e);
        }
    }

    private static boolean isCertificate(KeyStore store, String alias) {
        try {
            return store.getCertificate(alias) != null;
        } catch (KeyStoreException e) {
            return false;
        }
    }

    /** A trust store's type from its file name (.p12/.pfx are PKCS12), else the key store's type. */
    private static String typeOf(Path file, String fallback) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".p12") || name.endsWith(".pfx")) {
            return "pkcs12";
        }
        if (name.endsWith(".jks")) {
            return "jks";
        }
        return fallback;
    }

    private static KeyStore load(Path path, String type, String password, String pathKey, String passwordKey)
            throws BrokerConfigException {
        KeyStore store;
        try {
            store = KeyStore.getInstance(type.toUpperCase(Locale.ROOT));
        } catch (KeyStoreException e) {
            throw new BrokerConfigException("key_store_type: '" + type + "' is not supported by this JDK", e);
        }
        try (InputStream in = Files.newInputStream(path)) {
            store.load(in, password == null ? null : password.toCharArray());
            return store;
        } catch (NoSuchFileException e) {
            throw new BrokerConfigException(pathKey + ": file not found: " + path, e);
        } catch (IOException e) {
            // The JDK reports a wrong password as an IOException caused by UnrecoverableKeyException.
            if (e.getCause() instanceof UnrecoverableKeyException || String.valueOf(e.getMessage())
                    .toLowerCase(Locale.ROOT).contains("password")) {
                throw new BrokerConfigException(passwordKey + ": wrong password for " + path, e);
            }
            throw new BrokerConfigException(pathKey + ": " + path + " cannot be read as a " + type
                    + " key store (check key_store_type): " + e.getMessage(), e);
        } catch (GeneralSecurityException e) {
            throw new BrokerConfigException(pathKey + ": " + path + " cannot be read as a " + type
                    + " key store: " + e, e);
        }
    }

    private static void checkHasKey(KeyStore store, Path path) throws BrokerConfigException {
        try {
            for (String alias : Collections.list(store.aliases())) {
                if (store.isKeyEntry(alias)) {
                    if (store.getCertificate(alias) instanceof X509Certificate cert) {
                        try {
                            cert.checkValidity(new Date());
                        } catch (GeneralSecurityException expiredOrNotYetValid) {
                            org.slf4j.LoggerFactory.getLogger(SslContexts.class).warn(
                                    "jks_path: the certificate '{}' in {} is not valid now: {}", alias, path,
                                    expiredOrNotYetValid.getMessage());
                        }
                    }
                    return;
                }
            }
        } catch (KeyStoreException e) {
            throw new BrokerConfigException("jks_path: cannot list " + path + ": " + e, e);
        }
        throw new BrokerConfigException("jks_path: " + path + " holds no private key (a server needs a key entry, "
                + "not only trusted certificates)");
    }
}
