package io.durablemq.broker.security;

import picocli.CommandLine.Command;

/** {@code durablemq passwd FILE USER} (work in progress). */
@Command(name = "passwd", description = "Add or change a user in a password file (PBKDF2).")
public final class PasswdCommand implements Runnable {
    @Override
    public void run() {
        throw new UnsupportedOperationException("not yet");
    }
}
