package io.durablemq.broker.security;

import io.moquette.broker.security.IAuthorizatorPolicy;
import io.moquette.broker.subscriptions.Topic;

/** A Moquette authorizator with a no-arg constructor: allows "open/..." topics, throws on "boom". */
public class ThrowingAuthorizator implements IAuthorizatorPolicy {
    @Override
    public boolean canWrite(Topic topic, String user, String client) {
        if (topic.toString().equals("boom")) {
            throw new IllegalStateException("plugin failure");
        }
        return topic.toString().startsWith("open/");
    }

    @Override
    public boolean canRead(Topic topic, String user, String client) {
        return canWrite(topic, user, client);
    }
}
