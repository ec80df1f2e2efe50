package io.durablemq.broker.security.scram;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * Parses the client's SCRAM messages and writes the server's (RFC 5802 section 7):
 * <pre>
 * client-first  n,,n=USER,r=CNONCE                 (gs2 header "n,," or "y,,"; "p=" is refused)
 * server-first  r=CNONCE+SNONCE,s=SALT,i=ITERATIONS
 * client-final  c=biws,r=CNONCE+SNONCE,p=PROOF     (c = base64 of the gs2 header)
 * server-final  v=SERVER_SIGNATURE
 * </pre>
 * User names use RFC 5802's saslname escaping ({@code =2C} for ',', {@code =3D} for '=').
 * SASLprep (RFC 4013) is not applied: names and passwords are compared as the UTF-8 given, so
 * a client that normalizes a non-ASCII password differently fails to log in rather than in
 * some other way.
 */
public final class ScramMessages {
    private ScramMessages() {
    }

    /** The parsed client-first message; {@code bare} is the part after the gs2 header (part of AuthMessage). */
    public record ClientFirst(String gs2Header, String user, String nonce, String bare) {
    }

    /** The parsed client-final message; {@code withoutProof} is its part of AuthMessage. */
    public record ClientFinal(String channelBinding, String nonce, byte[] proof, String withoutProof) {
    }

    public static ClientFirst parseClientFirst(byte[] data) throws ScramException {
        String msg = utf8(data, "client-first");
        int first = msg.indexOf(',');
        int second = first < 0 ? -1 : msg.indexOf(',', first + 1);
        if (second < 0) {
            throw new ScramException("client-first message has no gs2 header (expected 'n,,n=USER,r=NONCE')");
        }
        String flag = msg.substring(0, first);
        String authzid = msg.substring(first + 1, second);
        if (flag.startsWith("p=")) {
            throw new ScramException("channel binding is not supported (use SCRAM-SHA-256 with gs2 flag 'n')");
        }
        if (!flag.equals("n") && !flag.equals("y")) {
            throw new ScramException("bad gs2 channel binding flag '" + flag + "'");
        }
        String gs2Header = msg.substring(0, second + 1);
        String bare = msg.substring(second + 1);
        String[] parts = bare.split(",", -1);
        if (parts.length > 0 && parts[0].startsWith("m=")) {
            throw new ScramException("mandatory extension 'm=' is not supported");
        }
        if (parts.length < 2 || !parts[0].startsWith("n=") || !parts[1].startsWith("r=")) {
            throw new ScramException("client-first message must be 'n=USER,r=NONCE' after the gs2 header");
        }
        String user = decodeSaslName(parts[0].substring(2));
        if (user.isEmpty()) {
            throw new ScramException("empty user name");
        }
        if (!authzid.isEmpty() && !authzid.equals("a=" + encodeSaslName(user))) {
            throw new ScramException("an authorization identity other than the user is not supported");
        }
        String nonce = parts[1].substring(2);
        checkNonce(nonce);
        return new ClientFirst(gs2Header, user, nonce, bare);
    }

    public static ClientFinal parseClientFinal(byte[] data) throws ScramException {
        String msg = utf8(data, "client-final");
        int proofAt = msg.lastIndexOf(",p=");
        if (proofAt < 0) {
            throw new ScramException("client-final message has no proof 'p='");
        }
        String withoutProof = msg.substring(0, proofAt);
        String[] parts = withoutProof.split(",", -1);
        if (parts.length < 2 || !parts[0].startsWith("c=") || !parts[1].startsWith("r=")) {
            throw new ScramException("client-final message must be 'c=BINDING,r=NONCE,p=PROOF'");
        }
        String binding;
        byte[] proof;
        try {
            binding = new String(Base64.getDecoder().decode(parts[0].substring(2)), StandardCharsets.UTF_8);
            proof = Base64.getDecoder().decode(msg.substring(proofAt + 3));
        } catch (IllegalArgumentException e) {
            throw new ScramException("client-final message: bad base64: " + e.getMessage());
        }
        if (proof.length != ScramCrypto.KEY_BYTES) {
            throw new ScramException("proof must be " + ScramCrypto.KEY_BYTES + " bytes, not " + proof.length);
        }
        return new ClientFinal(binding, parts[1].substring(2), proof, withoutProof);
    }

    public static String serverFirst(String nonce, byte[] salt, int iterations) {
        return "r=" + nonce + ",s=" + Base64.getEncoder().encodeToString(salt) + ",i=" + iterations;
    }

    public static String serverFinal(byte[] serverSignature) {
        return "v=" + Base64.getEncoder().encodeToString(serverSignature);
    }

    /** RFC 5802 saslname: ',' as "=2C", '=' as "=3D". */
    public static String encodeSaslName(String name) {
        return name.replace("=", "=3D").replace(",", "=2C");
    }

    static String decodeSaslName(String s) throws ScramException {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '=') {
                out.append(c);
            } else if (s.startsWith("=2C", i)) {
                out.append(',');
                i += 2;
            } else if (s.startsWith("=3D", i)) {
                out.append('=');
                i += 2;
            } else {
                throw new ScramException("bad escape in user name (only =2C and =3D are allowed)");
            }
        }
        return out.toString();
    }

    private static void checkNonce(String nonce) throws ScramException {
        if (nonce.isEmpty()) {
            throw new ScramException("empty nonce");
        }
        for (int i = 0; i < nonce.length(); i++) {
            char c = nonce.charAt(i);
            if (c < 0x21 || c > 0x7E || c == ',') {
                throw new ScramException("nonce must be printable ASCII without ','");
            }
        }
    }

    private static String utf8(byte[] data, String what) throws ScramException {
        if (data == null || data.length == 0) {
            throw new ScramException(what + " message is missing (Authentication Data is empty)");
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(data)).toString();
        } catch (CharacterCodingException e) {
            throw new ScramException(what + " message is not UTF-8");
        }
    }
}
