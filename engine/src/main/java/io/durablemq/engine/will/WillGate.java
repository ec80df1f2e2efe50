package io.durablemq.engine.will;

/**
 * Decides, when a will fires, whether its client may still publish to its topic (the broker's
 * ACL; the engine has none of its own). Called under the engine's lock: must not block.
 */
@FunctionalInterface
public interface WillGate {
    WillGate ALLOW_ALL = (clientId, username, topic) -> true;

    boolean mayPublish(String clientId, String username, String topic);
}
