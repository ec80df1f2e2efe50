package io.durablemq.broker.protocol;

/** MQTT 5 reason codes the broker sends (spec section 2.4), named as in the specification. */
public final class ReasonCodes {
    public static final byte SUCCESS = 0x00;
    public static final byte DISCONNECT_WITH_WILL = 0x04;
    public static final byte NO_MATCHING_SUBSCRIBERS = 0x10;
    public static final byte NO_SUBSCRIPTION_EXISTED = 0x11;
    public static final byte UNSPECIFIED_ERROR = (byte) 0x80;
    public static final byte MALFORMED_PACKET = (byte) 0x81;
    public static final byte PROTOCOL_ERROR = (byte) 0x82;
    public static final byte NOT_AUTHORIZED = (byte) 0x87;
    public static final byte SERVER_SHUTTING_DOWN = (byte) 0x8B;
    public static final byte BAD_AUTHENTICATION_METHOD = (byte) 0x8C;
    public static final byte KEEP_ALIVE_TIMEOUT = (byte) 0x8D;
    public static final byte SESSION_TAKEN_OVER = (byte) 0x8E;
    public static final byte TOPIC_FILTER_INVALID = (byte) 0x8F;
    public static final byte TOPIC_NAME_INVALID = (byte) 0x90;
    public static final byte PACKET_ID_NOT_FOUND = (byte) 0x92;
    public static final byte RECEIVE_MAXIMUM_EXCEEDED = (byte) 0x93;
    public static final byte TOPIC_ALIAS_INVALID = (byte) 0x94;
    public static final byte PACKET_TOO_LARGE = (byte) 0x95;
    public static final byte QUOTA_EXCEEDED = (byte) 0x97;
    public static final byte SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = (byte) 0x9E;

    /** SUBACK failure for MQTT 3.1.1. */
    public static final int SUBACK_FAILURE_V3 = 0x80;

    private ReasonCodes() {
    }

    /** A label for metrics and logs, e.g. {@code protocol_error}. */
    public static String label(byte code) {
        return switch (code) {
            case SUCCESS -> "success";
            case DISCONNECT_WITH_WILL -> "disconnect_with_will";
            case UNSPECIFIED_ERROR -> "unspecified_error";
            case MALFORMED_PACKET -> "malformed_packet";
            case PROTOCOL_ERROR -> "protocol_error";
            case NOT_AUTHORIZED -> "not_authorized";
            case SERVER_SHUTTING_DOWN -> "server_shutting_down";
            case BAD_AUTHENTICATION_METHOD -> "bad_authentication_method";
            case KEEP_ALIVE_TIMEOUT -> "keep_alive_timeout";
            case SESSION_TAKEN_OVER -> "session_taken_over";
            case TOPIC_FILTER_INVALID -> "topic_filter_invalid";
            case TOPIC_NAME_INVALID -> "topic_name_invalid";
            case RECEIVE_MAXIMUM_EXCEEDED -> "receive_maximum_exceeded";
            case TOPIC_ALIAS_INVALID -> "topic_alias_invalid";
            case PACKET_TOO_LARGE -> "packet_too_large";
            case QUOTA_EXCEEDED -> "quota_exceeded";
            default -> String.format("reason_0x%02x", code & 0xFF);
        };
    }
}
