package io.durablemq.broker;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The tests' SCRAM client reproduces RFC 7677 section 3's exchange byte for byte. */
class ScramTestClientTest {
    static final String CLIENT_FIRST = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    static final String SERVER_FIRST = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    static final String CLIENT_FINAL = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            + "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    static final String SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    @Test
    void reproducesRfc7677TestVector() throws Exception {
        ScramTestClient client = new ScramTestClient("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assertArrayEquals(bytes(CLIENT_FIRST), client.clientFirst());
        assertArrayEquals(bytes(CLIENT_FINAL), client.clientFinal(bytes(SERVER_FIRST)));
        assertTrue(client.verifyServerFinal(bytes(SERVER_FINAL)));
        assertFalse(client.verifyServerFinal(bytes("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")));
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
