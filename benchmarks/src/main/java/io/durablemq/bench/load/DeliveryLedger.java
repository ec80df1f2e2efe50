package io.durablemq.bench.load;

import java.util.BitSet;
import java.util.concurrent.atomic.LongAdder;

/**
 * Which messages each publisher got acknowledged and which each subscriber received, to count
 * losses and duplicates exactly. A message is lost when its publish was acknowledged (or, at
 * QoS 0, written) and a subscriber whose filter matches it never received it.
 */
public final class DeliveryLedger {

    private final Scenario scenario;
    private final BitSet[] confirmed;
    /** [subscriber][publisher]: sequences received; each row is guarded by its subscriber's array. */
    private final BitSet[][] received;
    private final LongAdder duplicates = new LongAdder();
    private final LongAdder unexpected = new LongAdder();
    private final LongAdder distinctReceived = new LongAdder();

    public DeliveryLedger(Scenario scenario, int publishers, int subscribers) {
        this.scenario = scenario;
        this.confirmed = new BitSet[publishers];
        for (int p = 0; p < publishers; p++) {
            confirmed[p] = new BitSet();
        }
        this.received = new BitSet[subscribers][publishers];
        for (int s = 0; s < subscribers; s++) {
            for (int p = 0; p < publishers; p++) {
                received[s][p] = new BitSet();
            }
        }
    }

    public void confirmed(int publisher, long sequence) {
        BitSet set = confirmed[publisher];
        synchronized (set) {
            set.set(Math.toIntExact(sequence));
        }
    }

    /** Records a delivery; returns true for the first delivery of that message to that subscriber. */
    public boolean received(int subscriber, int publisher, long sequence) {
        if (publisher < 0 || publisher >= confirmed.length || sequence < 0 || sequence > Integer.MAX_VALUE
                || !scenario.routes(publisher, subscriber)) {
            unexpected.increment();
            return false;
        }
        BitSet[] row = received[subscriber];
        boolean first;
        synchronized (row) {
            BitSet set = row[publisher];
            int index = (int) sequence;
            first = !set.get(index);
            set.set(index);
        }
        if (first) {
            distinctReceived.increment();
        } else {
            duplicates.increment();
        }
        return first;
    }

    /** Deliveries owed: for each subscriber, the acknowledged messages of the publishers it matches. */
    public long expected() {
        long total = 0;
        for (int s = 0; s < received.length; s++) {
            for (int p = 0; p < confirmed.length; p++) {
                if (scenario.routes(p, s)) {
                    total += cardinality(confirmed[p]);
                }
            }
        }
        return total;
    }

    /** Acknowledged messages a matching subscriber never received. */
    public long lost() {
        long total = 0;
        for (int s = 0; s < received.length; s++) {
            for (int p = 0; p < confirmed.length; p++) {
                if (!scenario.routes(p, s)) {
                    continue;
                }
                BitSet missing;
                synchronized (confirmed[p]) {
                    missing = (BitSet) confirmed[p].clone();
                }
                synchronized (received[s]) {
                    missing.andNot(received[s][p]);
                }
                total += missing.cardinality();
            }
        }
        return total;
    }

    public long distinctReceived() {
        return distinctReceived.sum();
    }

    public long duplicates() {
        return duplicates.sum();
    }

    /** Messages of ours no subscriber should have got (wrong routing, or out-of-range headers). */
    public long unexpected() {
        return unexpected.sum();
    }

    private static int cardinality(BitSet set) {
        synchronized (set) {
            return set.cardinality();
        }
    }
}
