package io.durablemq.broker.security;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PasswordHashTest {

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void moquetteSha256HexLinesStillWork() {
        PasswordHash h = PasswordHash.parse(PasswordHash.Sha256Hex.of(utf8("passw0rd")).encoded());
        assertInstanceOf(PasswordHash.Sha256Hex.class, h);
        assertTrue(h.matches(utf8("passw0rd")));
        assertFalse(h.matches(utf8("passw0rD")));
        // the well-known digest of "abc" (FIPS 180-2), upper case accepted too
        PasswordHash abc = PasswordHash.parse("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
        assertTrue(abc.matches(utf8("abc")));
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", abc.encoded());
    }

    @Test
    void pbkdf2MatchesTheRfc7914TestVector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256, P="Password", S="NaCl", c=80000, dkLen=64
        byte[] expected = HexFormat.of().parseHex("4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
                + "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
        assertArrayEquals(expected, PasswordHash.Pbkdf2.derive("Password".toCharArray(), utf8("NaCl"), 80_000, 64));
    }

    @Test
    void pbkdf2RoundTripsThroughItsTextForm() {
        PasswordHash.Pbkdf2 h = PasswordHash.pbkdf2("s3cret-ü".toCharArray(), 1_000);
        String text = h.encoded();
        assertTrue(text.startsWith("$pbkdf2-sha256$1000$"), text);
        PasswordHash parsed = PasswordHash.parse(text);
        assertTrue(parsed.matches(utf8("s3cret-ü")));
        assertFalse(parsed.matches(utf8("s3cret-u")));
        assertFalse(parsed.matches(new byte[0]));
        // bytes that are not UTF-8 can never match (and do not throw)
        assertFalse(parsed.matches(new byte[] {(byte) 0xC3}));
        // salted: the same password hashes differently every time
        assertNotEquals(text, PasswordHash.pbkdf2("s3cret-ü".toCharArray(), 1_000).encoded());
        assertFalse(h.toString().contains(text.substring(20)), "toString must not show the hash");
    }

    @Test
    void badHashesAreExplained() {
        assertEquals("not a 64-digit SHA-256 hex nor a $pbkdf2-sha256$ hash",
                assertThrows(IllegalArgumentException.class, () -> PasswordHash.parse("abc")).getMessage());
        assertEquals("unknown hash format '$2y$' (expected $pbkdf2-sha256$, $scram-sha-256$ or a 64-digit SHA-256 hex)",
                assertThrows(IllegalArgumentException.class, () -> PasswordHash.parse("$2y$10$abc")).getMessage());
        assertEquals("expected $pbkdf2-sha256$ITERATIONS$SALT$HASH",
                assertThrows(IllegalArgumentException.class, () -> PasswordHash.parse("$pbkdf2-sha256$1000$abc"))
                        .getMessage());
        assertEquals("bad $pbkdf2-sha256$ hash: iterations must be at least 1000: 10", assertThrows(IllegalArgumentException.class,
                () -> PasswordHash.parse("$pbkdf2-sha256$10$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")).getMessage());
    }
}
