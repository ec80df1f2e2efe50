package io.durablemq.broker.security.scram;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Base64;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The server's SCRAM-SHA-256 math and state machine, against RFC 7677 section 3's published exchange. */
class ScramServerTest {
    // RFC 7677 section 3: user "user", password "pencil".
    static final byte[] SALT = Base64.getDecoder().decode("W22ZaJ0SNY7soEsUEjb6gQ==");
    static final String SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    static final String CLIENT_FIRST = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    static final String SERVER_FIRST = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    static final String CLIENT_FINAL = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            + "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    static final String SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    static final ScramCredentials PENCIL = ScramCredentials.fromPassword("pencil".toCharArray(), SALT, 4096);

    static final ScramCredentialStore STORE = new ScramCredentialStore() {
        @Override
        public ScramCredentials find(String user) {
            return user.equals("user") ? PENCIL : null;
        }

        @Override
        public int decoyIterations() {
            return 4096;
        }
    };

    private static ScramServer vectorServer() {
        return new ScramServer(STORE, () -> SERVER_NONCE);
    }

    @Test
    void reproducesRfc7677TestVector() {
        ScramServer server = vectorServer();
        ScramServer.Result first = server.clientFirst(bytes(CLIENT_FIRST));
        assertArrayEquals(bytes(SERVER_FIRST), assertInstanceOf(ScramServer.Challenge.class, first).serverFirst());
        assertEquals(ScramServer.State.AWAITING_CLIENT_FINAL, server.state());
        ScramServer.Success ok = assertInstanceOf(ScramServer.Success.class, server.clientFinal(bytes(CLIENT_FINAL)));
        assertEquals("user", ok.user());
        assertArrayEquals(bytes(SERVER_FINAL), ok.serverFinal());
        assertEquals(ScramServer.State.SUCCEEDED, server.state());
        assertThrows(IllegalStateException.class, () -> server.clientFinal(bytes(CLIENT_FINAL)));
    }

    @Test
    void wrongProofFails() {
        ScramServer server = vectorServer();
        server.clientFirst(bytes(CLIENT_FIRST));
        String tampered = CLIENT_FINAL.replace("p=dHzb", "p=eHzb");
        ScramServer.Failure f = assertInstanceOf(ScramServer.Failure.class, server.clientFinal(bytes(tampered)));
        assertEquals(ScramServer.FailureKind.BAD_PROOF, f.kind());
        assertEquals(ScramServer.State.FAILED, server.state());
    }

    @Test
    void unknownUserGetsAStableDecoyChallengeAndFailsAtTheProof() {
        ScramServer a = vectorServer();
        ScramServer b = vectorServer();
        String first = "n,,n=nobody,r=abc";
        String sa = new String(assertInstanceOf(ScramServer.Challenge.class, a.clientFirst(bytes(first))).serverFirst(),
                StandardCharsets.UTF_8);
        String sb = new String(assertInstanceOf(ScramServer.Challenge.class, b.clientFirst(bytes(first))).serverFirst(),
                StandardCharsets.UTF_8);
        assertEquals(sa, sb, "the same salt each time, like a real user");
        assertTrue(sa.matches("r=abc\\Q" + SERVER_NONCE + "\\E,s=[A-Za-z0-9+/=]{24},i=4096"), sa);
        String last = "c=biws,r=abc" + SERVER_NONCE + ",p=" + Base64.getEncoder().encodeToString(new byte[32]);
        assertEquals(ScramServer.FailureKind.UNKNOWN_USER,
                assertInstanceOf(ScramServer.Failure.class, a.clientFinal(bytes(last))).kind());
    }

    @Test
    void refusesMalformedMessagesNonceAndBindingMismatch() {
        for (String bad : new String[] {"", "n=user,r=x", "p=tls-unique,,n=user,r=x", "n,,r=x,n=user", "n,,m=ext,n=user,r=x",
                "n,,n=us=41er,r=x", "n,,n=user,r=", "n,a=other,n=user,r=x"}) {
            ScramServer s = vectorServer();
            ScramServer.Failure f = assertInstanceOf(ScramServer.Failure.class, s.clientFirst(bytes(bad)), bad);
            assertEquals(ScramServer.FailureKind.MALFORMED, f.kind(), bad);
        }
        ScramServer nonce = vectorServer();
        nonce.clientFirst(bytes(CLIENT_FIRST));
        assertEquals(ScramServer.FailureKind.MALFORMED, assertInstanceOf(ScramServer.Failure.class,
                nonce.clientFinal(bytes(CLIENT_FINAL.replace("$k0,", "$k1,")))).kind());
        ScramServer binding = vectorServer();
        binding.clientFirst(bytes(CLIENT_FIRST));
        assertEquals(ScramServer.FailureKind.MALFORMED, assertInstanceOf(ScramServer.Failure.class,
                binding.clientFinal(bytes(CLIENT_FINAL.replace("c=biws", "c=eSws")))).kind());
    }

    @Test
    void saslNameEscapesAndRealNoncesAreFresh() throws Exception {
        assertEquals("a,b=c", ScramMessages.parseClientFirst(bytes("n,,n=a=2Cb=3Dc,r=x")).user());
        assertEquals("a=2Cb=3Dc", ScramMessages.encodeSaslName("a,b=c"));
        ScramServer one = new ScramServer(STORE);
        ScramServer two = new ScramServer(STORE);
        String s1 = new String(((ScramServer.Challenge) one.clientFirst(bytes(CLIENT_FIRST))).serverFirst(), StandardCharsets.UTF_8);
        String s2 = new String(((ScramServer.Challenge) two.clientFirst(bytes(CLIENT_FIRST))).serverFirst(), StandardCharsets.UTF_8);
        assertTrue(!s1.equals(s2) && s1.startsWith("r=rOprNGfwEbeRWgbNEkqO"), s1 + " / " + s2);
    }

    @Test
    void storedValuesCheckPlainPasswords() {
        assertTrue(PENCIL.matchesPassword("pencil".toCharArray()));
        assertTrue(!PENCIL.matchesPassword("pencils".toCharArray()));
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
