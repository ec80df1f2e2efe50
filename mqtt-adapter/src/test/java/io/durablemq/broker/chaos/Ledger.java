package io.durablemq.broker.chaos;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What the clients saw, kept in the never-killed harness process: every publish attempt, every
 * acknowledgement a client reported (PUBACK / PUBCOMP), and every delivery to every subscriber
 * session. The verdict is computed from this record only.
 */
final class Ledger {
    private static final int SAMPLES = 20;

    record Sent(MsgId id, String topic, int qos) {
    }

    /** One subscriber session (or a member of a shared group, {@code group != null}). */
    static final class Session {
        final String name;
        final String filter;
        final int maxQos;
        final String group;
        final Map<MsgId, Integer> counts = new HashMap<>();
        final Set<MsgId> receivedAtQos2 = new HashSet<>();
        final Map<String, Long> maxSeqPerStream = new HashMap<>();
        final List<String> orderViolations = new ArrayList<>();
        int orderViolationCount;
        long deliveries;
        long qos1Duplicates;
        long qos2Duplicates;
        final List<String> qos2DuplicateSamples = new ArrayList<>();
        /** How each QoS 2 message first arrived (client's note), to describe a duplicate. */
        final Map<MsgId, String> firstQos2Arrival = new HashMap<>();

        Session(String name, String filter, int maxQos, String group) {
            this.name = name;
            this.filter = filter;
            this.maxQos = maxQos;
            this.group = group;
        }
    }

    private final Map<MsgId, Sent> sent = new HashMap<>();
    private final Set<MsgId> acknowledged = new HashSet<>();
    private final Map<String, Session> sessions = new LinkedHashMap<>();
    private final List<String> anomalies = new ArrayList<>();
    private long anomalyCount;

    synchronized void addSession(String name, String filter, int maxQos, String group) {
        sessions.put(name, new Session(name, filter, maxQos, group));
    }

    /** Called before the client is asked to send it. */
    synchronized void sent(MsgId id, String topic, int qos) {
        sent.put(id, new Sent(id, topic, qos));
    }

    /** The client reported PUBACK (QoS 1) or PUBCOMP (QoS 2). */
    synchronized void acknowledged(MsgId id) {
        if (!sent.containsKey(id)) {
            anomaly("acknowledgement for a message never sent: " + id);
            return;
        }
        acknowledged.add(id);
    }

    synchronized int acknowledgedCount() {
        return acknowledged.size();
    }

    /** A copy of the acknowledged ids as of now (to tell which were acknowledged in a window). */
    synchronized Set<MsgId> acknowledgedIds() {
        return new HashSet<>(acknowledged);
    }

    /** True when {@code session} received {@code id} at least once. */
    synchronized boolean deliveredTo(String session, MsgId id) {
        Session s = sessions.get(session);
        return s != null && s.counts.containsKey(id);
    }

    synchronized int sentCount() {
        return sent.size();
    }

    synchronized long deliveries(String session) {
        return sessions.get(session).deliveries;
    }

    /** A delivery to the application of subscriber session {@code session}. */
    synchronized void delivered(String session, String topic, byte[] payload, int qos) {
        delivered(session, topic, payload, qos, true, null);
    }

    /** With a client's note on the arrival (packet id, DUP flag, time), kept to describe QoS 2 duplicates. */
    synchronized void delivered(String session, String topic, byte[] payload, int qos, String note) {
        delivered(session, topic, payload, qos, true, note);
    }

    synchronized void delivered(String session, String topic, byte[] payload, int qos, boolean judgeOrder) {
        delivered(session, topic, payload, qos, judgeOrder, null);
    }

    /**
     * As {@link #delivered(String, String, byte[], int)}; {@code judgeOrder} false for a delivery a
     * client is known to have held back by its own fault (it still counts for loss and duplicates).
     */
    private void delivered(String session, String topic, byte[] payload, int qos, boolean judgeOrder, String note) {
        Session s = sessions.get(session);
        MsgId id = MsgId.parse(payload);
        Sent m = id == null ? null : sent.get(id);
        if (m == null) {
            anomaly(session + " received an unknown message on " + topic + ": " + new String(payload, 0, Math.min(60, payload.length)));
            return;
        }
        if (!m.topic().equals(topic)) {
            anomaly(session + " received " + id + " on topic " + topic + ", published on " + m.topic());
        }
        if (!TopicFilter.matches(s.filter, topic)) {
            anomaly(session + " (" + s.filter + ") received " + id + " on non-matching topic " + topic);
        }
        int expectedQos = Math.min(m.qos(), s.maxQos);
        if (qos != expectedQos) {
            anomaly(session + " received " + id + " at QoS " + qos + ", expected " + expectedQos);
        }
        s.deliveries++;
        int n = s.counts.merge(id, 1, Integer::sum);
        if (qos == 2) {
            s.receivedAtQos2.add(id);
            if (note != null) {
                s.firstQos2Arrival.putIfAbsent(id, note);
            }
        }
        if (n > 1) {
            if (s.receivedAtQos2.contains(id)) {
                s.qos2Duplicates++;
                if (s.qos2DuplicateSamples.size() < SAMPLES) {
                    String first = s.firstQos2Arrival.get(id);
                    s.qos2DuplicateSamples.add(id + " x" + n + (note == null ? "" : " (first: " + first + "; now: " + note + ")"));
                }
            } else {
                s.qos1Duplicates++;
            }
            return; // a resend: order is judged on first arrivals
        }
        if (s.group == null && judgeOrder) {
            String stream = id.publisher() + " " + topic;
            Long max = s.maxSeqPerStream.get(stream);
            if (max != null && id.seq() < max) {
                s.orderViolationCount++;
                if (s.orderViolations.size() < SAMPLES) {
                    s.orderViolations.add(session + ": " + stream + " seq " + id.seq() + " first arrived after " + max);
                }
            } else {
                s.maxSeqPerStream.put(stream, id.seq());
            }
        }
    }

    /** Acknowledged messages that never reached {@code session} (a session outside any group), by topic. */
    synchronized Map<String, List<MsgId>> lostPerTopic(String session) {
        Session s = sessions.get(session);
        Map<String, List<MsgId>> out = new LinkedHashMap<>();
        for (MsgId id : acknowledged) {
            String topic = sent.get(id).topic();
            if (TopicFilter.matches(s.filter, topic) && !s.counts.containsKey(id)) {
                out.computeIfAbsent(topic, t -> new ArrayList<>()).add(id);
            }
        }
        return out;
    }

    /** For diagnostics: where a message went. */
    synchronized String describe(MsgId id) {
        Sent m = sent.get(id);
        StringBuilder b = new StringBuilder(m == null ? "never sent" : "QoS " + m.qos() + " on " + m.topic());
        b.append(acknowledged.contains(id) ? ", acknowledged" : ", not acknowledged").append(", delivered to [");
        for (Session s : sessions.values()) {
            Integer n = s.counts.get(id);
            if (n != null) {
                b.append(s.name).append(n > 1 ? " x" + n : "").append(' ');
            }
        }
        return b.append(']').toString();
    }

    synchronized void anomaly(String text) {
        anomalyCount++;
        if (anomalies.size() < SAMPLES) {
            anomalies.add(text);
        }
    }

    /** Pairs (acknowledged message, session or group that must have it) still missing. */
    synchronized long missing() {
        return lost(null);
    }

    private long lost(List<String> samples) {
        Map<String, List<Session>> groups = new LinkedHashMap<>();
        for (Session s : sessions.values()) {
            if (s.group != null) {
                groups.computeIfAbsent(s.group, g -> new ArrayList<>()).add(s);
            }
        }
        long lost = 0;
        for (MsgId id : acknowledged) {
            String topic = sent.get(id).topic();
            for (Session s : sessions.values()) {
                if (s.group == null && TopicFilter.matches(s.filter, topic) && !s.counts.containsKey(id)) {
                    lost++;
                    if (samples != null && samples.size() < SAMPLES) {
                        samples.add(id + " on " + topic + " never reached " + s.name);
                    }
                }
            }
            for (Map.Entry<String, List<Session>> g : groups.entrySet()) {
                List<Session> members = g.getValue();
                if (TopicFilter.matches(members.get(0).filter, topic)
                        && members.stream().noneMatch(m -> m.counts.containsKey(id))) {
                    lost++;
                    if (samples != null && samples.size() < SAMPLES) {
                        samples.add(id + " on " + topic + " never reached shared group " + g.getKey());
                    }
                }
            }
        }
        return lost;
    }

    synchronized Verdict verdict(String name, int kills, int restarts, long elapsedMillis, List<Long> recoveryMillis,
                                 List<String> killPoints) {
        List<String> lostSamples = new ArrayList<>();
        long lost = lost(lostSamples);
        long qos2Dups = 0;
        long qos1Dups = 0;
        long order = 0;
        long deliveries = 0;
        List<String> dupSamples = new ArrayList<>();
        List<String> orderSamples = new ArrayList<>();
        Map<String, Long> perSession = new LinkedHashMap<>();
        for (Session s : sessions.values()) {
            qos2Dups += s.qos2Duplicates;
            qos1Dups += s.qos1Duplicates;
            order += s.orderViolationCount;
            deliveries += s.deliveries;
            perSession.put(s.name + " (" + s.filter + ", max QoS " + s.maxQos + ")", s.deliveries);
            s.qos2DuplicateSamples.forEach(d -> dupSamples.add(s.name + ": " + d));
            orderSamples.addAll(s.orderViolations);
        }
        long ackedQos1 = acknowledged.stream().filter(id -> sent.get(id).qos() == 1).count();
        return new Verdict(name, kills, restarts, elapsedMillis, sent.size(), acknowledged.size(), ackedQos1,
                acknowledged.size() - ackedQos1, deliveries, lost, qos2Dups, qos1Dups, order, anomalyCount,
                recoveryMillis, killPoints, perSession, lostSamples, dupSamples, orderSamples, List.copyOf(anomalies));
    }
}
