package io.durablemq.broker.config;

/**
 * A broker setting that cannot be used. The message is meant for the operator: it names the
 * file, the key (and the line when known) and what is wrong, e.g.
 * {@code /etc/durablemq.conf:12: port: 'abc' is not a number}.
 */
public class BrokerConfigException extends Exception {

    private static final long serialVersionUID = 1L;

    public BrokerConfigException(String message) {
        super(message);
    }

    public BrokerConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
