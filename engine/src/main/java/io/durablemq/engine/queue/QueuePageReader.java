package io.durablemq.engine.queue;

import io.durablemq.engine.delivery.QueueEntry;

import java.util.List;

/**
 * Reads a page of one session's queue from the store, in key (sequence) order: the entries with
 * {@code fromSeq <= seq < beforeSeq}, at most {@code max} of them.
 */
@FunctionalInterface
public interface QueuePageReader {
    List<QueueEntry> read(byte[] sessionKey, long fromSeq, long beforeSeq, int max);
}
