package io.durablemq.broker.protocol;

/**
 * Which MQTT 5 properties a client may send in which packet, and how each is encoded
 * (MQTT 5 section 2.2.2.2). Used by {@link PacketGuard}.
 */
enum PropertyRules {
    CONNECT("CONNECT", 0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26, 0x15, 0x16),
    WILL("will properties", 0x18, 0x01, 0x02, 0x03, 0x08, 0x09, 0x26),
    // 0x0B (subscription identifier) is the server's to send: a client's PUBLISH carrying it is refused.
    PUBLISH("PUBLISH", 0x01, 0x02, 0x23, 0x08, 0x09, 0x26, 0x03),
    ACK("PUBACK/PUBREC/PUBREL/PUBCOMP", 0x1F, 0x26),
    SUBSCRIBE("SUBSCRIBE", 0x0B, 0x26),
    UNSUBSCRIBE("UNSUBSCRIBE", 0x26),
    DISCONNECT("DISCONNECT", 0x11, 0x1F, 0x26, 0x1C),
    AUTH("AUTH", 0x15, 0x16, 0x1F, 0x26);

    static final int USER_PROPERTY = 0x26;

    enum Kind { BYTE, TWO_BYTES, FOUR_BYTES, VARINT, STRING, BINARY, STRING_PAIR }

    private final String packet;
    private final long allowed;

    PropertyRules(String packet, int... ids) {
        this.packet = packet;
        long mask = 0;
        for (int id : ids) {
            mask |= 1L << id;
        }
        this.allowed = mask;
    }

    String packet() {
        return packet;
    }

    boolean allows(int id) {
        return id >= 0 && id < 64 && (allowed & (1L << id)) != 0;
    }

    /** The encoding of a property identifier, or null for an identifier MQTT 5 does not define. */
    static Kind kind(int id) {
        return switch (id) {
            case 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A -> Kind.BYTE;
            case 0x13, 0x21, 0x22, 0x23 -> Kind.TWO_BYTES;
            case 0x02, 0x11, 0x18, 0x27 -> Kind.FOUR_BYTES;
            case 0x0B -> Kind.VARINT;
            case 0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F -> Kind.STRING;
            case 0x09, 0x16 -> Kind.BINARY;
            case 0x26 -> Kind.STRING_PAIR;
            default -> null;
        };
    }

    /** Byte properties whose only legal values are 0 and 1 (payload format, request problem / response information). */
    static boolean isBoolean(int id) {
        return id == 0x01 || id == 0x17 || id == 0x19;
    }
}
