package io.durablemq.broker.security;

import io.moquette.broker.config.IConfig;
import io.moquette.broker.security.IAuthenticator;

import java.nio.charset.StandardCharsets;

/** A Moquette authenticator plugin with the (IConfig) constructor convention; used by name in tests. */
public class TestAuthenticator implements IAuthenticator {
    private final String password;
    /** The thread of the latest check. */
    static volatile Thread lastThread;

    public TestAuthenticator(IConfig config) {
        password = config.getProperty("plugin.test.password");
    }

    @Override
    public boolean checkValid(String clientId, String username, byte[] password) {
        lastThread = Thread.currentThread();
        if ("explode".equals(username)) {
            throw new IllegalStateException("plugin failure");
        }
        return password != null && this.password.equals(new String(password, StandardCharsets.UTF_8));
    }
}
