package io.durablemq.broker.protocol;

import io.netty.handler.codec.DecoderException;

/**
 * A packet that breaks the MQTT rules, found by {@link PacketGuard} before Netty's decoder sees
 * it. Carries the MQTT 5 reason code the connection is closed with (e.g. {@code 0x81} malformed
 * packet, {@code 0x82} protocol error, {@code 0x95} packet too large).
 */
public final class ProtocolViolation extends DecoderException {
    private final byte reasonCode;
    private final boolean inMqtt5Connect;

    public ProtocolViolation(byte reasonCode, String message) {
        this(reasonCode, message, false);
    }

    private ProtocolViolation(byte reasonCode, String message, boolean inMqtt5Connect) {
        super(message);
        this.reasonCode = reasonCode;
        this.inMqtt5Connect = inMqtt5Connect;
    }

    /** The same violation, found in an MQTT 5 CONNECT: it is answered with a CONNACK carrying the reason. */
    ProtocolViolation inMqtt5Connect() {
        return new ProtocolViolation(reasonCode, getMessage(), true);
    }

    public boolean isInMqtt5Connect() {
        return inMqtt5Connect;
    }

    public byte reasonCode() {
        return reasonCode;
    }

    /** No stack trace: hostile clients can make many of these, and the message says everything. */
    @Override
    public synchronized Throwable fillInStackTrace() {
        return this;
    }
}
