package io.durablemq.broker.interceptor;

import io.moquette.broker.config.IConfig;

/** An interceptor with Moquette's (IConfig) constructor, taking its id from the config. */
public class ConfiguredHandler extends RecordingHandler {
    public ConfiguredHandler(IConfig config) {
        super(config.getProperty("plugin.interceptor.id"));
    }
}
