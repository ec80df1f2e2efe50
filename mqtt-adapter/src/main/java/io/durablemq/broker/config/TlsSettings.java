package io.durablemq.broker.config;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;

/**
 * Server certificate and optional client-certificate authentication, Moquette's keys
 * {@code jks_path}, {@code key_store_type}, {@code key_store_password},
 * {@code key_manager_password}, {@code need_client_auth}, plus DurableMQ's
 * {@code trust_store_path} / {@code trust_store_password}.
 *
 * @param keyStore           JKS or PKCS12 file holding the server key and certificate chain
 * @param keyStoreType       "jks" or "pkcs12"
 * @param keyStorePassword   password of the key store file
 * @param keyManagerPassword password of the private key entry (often the same)
 * @param needClientAuth     require a client certificate signed by a trusted CA
 * @param trustStore         CAs trusted for client certificates; null means the key store
 *                           itself, as Moquette does
 * @param trustStorePassword password of the trust store; null means the key store password
 */
public record TlsSettings(Path keyStore, String keyStoreType, String keyStorePassword,
                          String keyManagerPassword, boolean needClientAuth, Path trustStore,
                          String trustStorePassword) {

    public TlsSettings {
        Objects.requireNonNull(keyStore, "keyStore");
        keyStoreType = keyStoreType == null ? "jks" : keyStoreType.trim().toLowerCase(Locale.ROOT);
        if (!keyStoreType.equals("jks") && !keyStoreType.equals("pkcs12")) {
            throw new IllegalArgumentException("key store type must be jks or pkcs12: " + keyStoreType);
        }
        Objects.requireNonNull(keyStorePassword, "keyStorePassword");
        if (keyManagerPassword == null) {
            keyManagerPassword = keyStorePassword;
        }
    }

    /** The store holding CAs for client certificates: the trust store, else the key store. */
    public Path effectiveTrustStore() {
        return trustStore != null ? trustStore : keyStore;
    }

    public String effectiveTrustStorePassword() {
        return trustStorePassword != null ? trustStorePassword : keyStorePassword;
    }

    /** Passwords are secrets: never print them (records print every component by default). */
    @Override
    public String toString() {
        return "TlsSettings[keyStore=" + keyStore + ", keyStoreType=" + keyStoreType
                + ", needClientAuth=" + needClientAuth + ", trustStore=" + effectiveTrustStore() + "]";
    }
}
