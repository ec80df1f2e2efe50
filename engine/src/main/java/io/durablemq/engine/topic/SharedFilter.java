package io.durablemq.engine.topic;

/** The parts of a shared subscription {@code $share/group/filter}. */
public record SharedFilter(String group, String filter) {
}
