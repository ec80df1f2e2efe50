package io.durablemq.broker.protocol;

import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

class Utf8CheckTest {
    private static String check(byte[] bytes) {
        return Utf8Check.problem(Unpooled.wrappedBuffer(bytes), 0, bytes.length);
    }

    private static boolean jdkAccepts(byte[] bytes) {
        try {
            String s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
            return s.indexOf('\u0000') < 0;
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    @Test
    void knownGoodAndBadStrings() {
        assertNull(check("sensors/température/😀/€".getBytes(StandardCharsets.UTF_8)));
        assertNull(check(new byte[0]));
        assertNotNull(check(new byte[]{'a', 0, 'b'}), "U+0000");
        assertNotNull(check(new byte[]{(byte) 0xC0, (byte) 0xAF}), "overlong '/'");
        assertNotNull(check(new byte[]{(byte) 0xE0, (byte) 0x80, (byte) 0xAF}), "overlong 3-byte '/'");
        assertNotNull(check(new byte[]{(byte) 0xED, (byte) 0xA0, (byte) 0x80}), "surrogate");
        assertNotNull(check(new byte[]{(byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80}), "above U+10FFFF");
        assertNotNull(check(new byte[]{(byte) 0xE2, (byte) 0x82}), "truncated");
        assertNotNull(check(new byte[]{(byte) 0x80}), "lone continuation byte");
    }

    /** Agrees with the JDK's strict decoder (plus the NUL rule) on random short byte strings. */
    @Test
    void agreesWithTheJdkDecoderOnRandomBytes() {
        SplittableRandom random = new SplittableRandom(7);
        for (int i = 0; i < 200_000; i++) {
            byte[] bytes = new byte[random.nextInt(1, 6)];
            for (int k = 0; k < bytes.length; k++) {
                // bias towards the interesting lead and continuation bytes
                bytes[k] = (byte) (random.nextBoolean() ? random.nextInt(0x80, 0x100) : random.nextInt(0, 0x80));
            }
            assertEquals(jdkAccepts(bytes), check(bytes) == null, () -> java.util.HexFormat.of().formatHex(bytes));
        }
    }
}
