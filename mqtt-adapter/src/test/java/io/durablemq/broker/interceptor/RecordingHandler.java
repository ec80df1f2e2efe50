package io.durablemq.broker.interceptor;

import io.moquette.interception.AbstractInterceptHandler;
import io.moquette.interception.messages.InterceptAcknowledgedMessage;
import io.moquette.interception.messages.InterceptConnectMessage;
import io.moquette.interception.messages.InterceptConnectionLostMessage;
import io.moquette.interception.messages.InterceptDisconnectMessage;
import io.moquette.interception.messages.InterceptPublishMessage;
import io.moquette.interception.messages.InterceptSubscribeMessage;
import io.moquette.interception.messages.InterceptUnsubscribeMessage;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** Records every event as text plus the thread it ran on. Public no-arg constructor: loadable by name. */
public class RecordingHandler extends AbstractInterceptHandler {

    final BlockingQueue<String> events = new LinkedBlockingQueue<>();
    final List<Thread> threads = new CopyOnWriteArrayList<>();
    private final String id;

    public RecordingHandler() {
        this("recorder");
    }

    RecordingHandler(String id) {
        this.id = id;
    }

    @Override
    public String getID() {
        return id;
    }

    private void record(String event) {
        threads.add(Thread.currentThread());
        events.add(event);
    }

    String next() throws InterruptedException {
        String e = events.poll(5, TimeUnit.SECONDS);
        if (e == null) {
            throw new AssertionError("no event within 5 s");
        }
        return e;
    }

    @Override
    public void onConnect(InterceptConnectMessage msg) {
        record("connect " + msg.getClientID() + " " + msg.getUsername() + " " + msg.getProtocolVersion() + " will="
                + msg.getWillTopic() + ":" + (msg.getWillMessage() == null ? null
                : new String(msg.getWillMessage(), StandardCharsets.UTF_8)) + " pw="
                + (msg.getPassword() == null ? null : new String(msg.getPassword(), StandardCharsets.UTF_8)));
    }

    @Override
    public void onDisconnect(InterceptDisconnectMessage msg) {
        record("disconnect " + msg.getClientID() + " " + msg.getUsername());
    }

    @Override
    public void onConnectionLost(InterceptConnectionLostMessage msg) {
        record("lost " + msg.getClientID() + " " + msg.getUsername());
    }

    @Override
    public void onPublish(InterceptPublishMessage msg) {
        String payload = msg.getPayload().toString(StandardCharsets.UTF_8);
        msg.getPayload().release(); // what Moquette 0.17 asks of handlers
        record("publish " + msg.getClientID() + " " + msg.getUsername() + " " + msg.getTopicName() + " "
                + msg.getQos().value() + " " + msg.isRetainFlag() + " " + payload);
    }

    @Override
    public void onSubscribe(InterceptSubscribeMessage msg) {
        record("subscribe " + msg.getClientID() + " " + msg.getUsername() + " " + msg.getTopicFilter() + " "
                + msg.getRequestedQos().value());
    }

    @Override
    public void onUnsubscribe(InterceptUnsubscribeMessage msg) {
        record("unsubscribe " + msg.getClientID() + " " + msg.getUsername() + " " + msg.getTopicFilter());
    }

    @Override
    public void onMessageAcknowledged(InterceptAcknowledgedMessage msg) {
        record("ack " + msg.getUsername() + " " + msg.getTopic() + " " + msg.getPacketID());
    }

    @Override
    public void onSessionLoopError(Throwable error) {
        record("error " + error);
    }
}
