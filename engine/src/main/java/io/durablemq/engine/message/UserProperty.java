package io.durablemq.engine.message;

import java.util.Objects;

/** One MQTT 5 user property; order and duplicates are significant and preserved. */
public record UserProperty(String name, String value) {
    public UserProperty {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(value, "value");
    }
}
