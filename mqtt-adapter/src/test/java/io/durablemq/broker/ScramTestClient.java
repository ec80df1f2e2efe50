package io.durablemq.broker;

import javax.crypto.Mac;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;

/**
 * The client side of SCRAM-SHA-256 (RFC 5802 section 3, RFC 7677), written for the tests
 * independently of the broker's {@code security.scram} package (it shares no code with it),
 * and checked against RFC 7677's published exchange in {@code ScramTestClientTest}.
 * One instance per exchange: {@link #clientFirst}, {@link #clientFinal}, {@link #verifyServerFinal}.
 */
final class ScramTestClient {
    private final String user;
    private final String password;
    private final String clientNonce;
    private String clientFirstBare;
    private byte[] expectedServerSignature;

    ScramTestClient(String user, String password) {
        this(user, password, randomNonce());
    }

    ScramTestClient(String user, String password, String clientNonce) {
        this.user = user;
        this.password = password;
        this.clientNonce = clientNonce;
    }

    private static String randomNonce() {
        byte[] b = new byte[18];
        new SecureRandom().nextBytes(b);
        return Base64.getEncoder().encodeToString(b);
    }

    byte[] clientFirst() {
        clientFirstBare = "n=" + user.replace("=", "=3D").replace(",", "=2C") + ",r=" + clientNonce;
        return ("n,," + clientFirstBare).getBytes(StandardCharsets.UTF_8);
    }

    /** Answers server-first ({@code r=,s=,i=}) with client-final; checks the server kept our nonce as its prefix. */
    byte[] clientFinal(byte[] serverFirstBytes) throws GeneralSecurityException {
        String serverFirst = new String(serverFirstBytes, StandardCharsets.UTF_8);
        String nonce = null;
        byte[] salt = null;
        int iterations = 0;
        for (String attr : serverFirst.split(",")) {
            if (attr.startsWith("r=")) {
                nonce = attr.substring(2);
            } else if (attr.startsWith("s=")) {
                salt = Base64.getDecoder().decode(attr.substring(2));
            } else if (attr.startsWith("i=")) {
                iterations = Integer.parseInt(attr.substring(2));
            }
        }
        if (nonce == null || salt == null || iterations <= 0 || !nonce.startsWith(clientNonce) || nonce.equals(clientNonce)) {
            throw new GeneralSecurityException("bad server-first message: " + serverFirst);
        }
        SecretKeyFactory pbkdf2 = SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256");
        byte[] saltedPassword = pbkdf2.generateSecret(new PBEKeySpec(password.toCharArray(), salt, iterations, 256)).getEncoded();
        byte[] clientKey = hmac(saltedPassword, "Client Key".getBytes(StandardCharsets.UTF_8));
        byte[] storedKey = MessageDigest.getInstance("SHA-256").digest(clientKey);
        String withoutProof = "c=" + Base64.getEncoder().encodeToString("n,,".getBytes(StandardCharsets.UTF_8)) + ",r=" + nonce;
        byte[] authMessage = (clientFirstBare + "," + serverFirst + "," + withoutProof).getBytes(StandardCharsets.UTF_8);
        byte[] clientSignature = hmac(storedKey, authMessage);
        byte[] proof = new byte[clientKey.length];
        for (int i = 0; i < proof.length; i++) {
            proof[i] = (byte) (clientKey[i] ^ clientSignature[i]);
        }
        byte[] serverKey = hmac(saltedPassword, "Server Key".getBytes(StandardCharsets.UTF_8));
        expectedServerSignature = hmac(serverKey, authMessage);
        return (withoutProof + ",p=" + Base64.getEncoder().encodeToString(proof)).getBytes(StandardCharsets.UTF_8);
    }

    /** True when server-final is {@code v=} with the signature only a server holding our ServerKey can make. */
    boolean verifyServerFinal(byte[] serverFinal) {
        String s = new String(serverFinal, StandardCharsets.UTF_8);
        if (!s.startsWith("v=") || expectedServerSignature == null) {
            return false;
        }
        return MessageDigest.isEqual(expectedServerSignature, Base64.getDecoder().decode(s.substring(2)));
    }

    private static byte[] hmac(byte[] key, byte[] data) throws GeneralSecurityException {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        return mac.doFinal(data);
    }
}
