package io.durablemq.broker.protocol;

import io.durablemq.engine.session.SessionClosedException;
import io.durablemq.engine.topic.SubscribeResult;
import io.durablemq.engine.topic.Subscription;
import io.durablemq.engine.topic.SubscriptionOptions;
import io.durablemq.engine.topic.TopicFilter;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;
import io.netty.handler.codec.mqtt.MqttSubscribeMessage;
import io.netty.handler.codec.mqtt.MqttSubscriptionOption;
import io.netty.handler.codec.mqtt.MqttTopicSubscription;
import io.netty.handler.codec.mqtt.MqttUnsubscribeMessage;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static io.durablemq.broker.protocol.ConnectionScope.LOG;
import static io.durablemq.broker.protocol.ConnectionScope.unwrap;

/**
 * SUBSCRIBE and UNSUBSCRIBE: filter checks, the ACL, MQTT 5 subscription options and
 * identifiers, and the SUBACK / UNSUBACK once the engine has stored the change.
 */
final class SubscribeFlow {
    private final ConnectionScope scope;

    SubscribeFlow(ConnectionScope scope) {
        this.scope = scope;
    }

    void receiveSubscribe(MqttSubscribeMessage subscribe) {
        int packetId = subscribe.idAndPropertiesVariableHeader().messageId();
        boolean v5 = scope.isV5();
        int subscriptionId = 0;
        if (v5) {
            Integer id = MqttProps.integer(subscribe.idAndPropertiesVariableHeader().properties(),
                    MqttPropertyType.SUBSCRIPTION_IDENTIFIER);
            if (id != null) {
                if (id == 0) {
                    scope.protocolError(ReasonCodes.PROTOCOL_ERROR, "subscription identifier 0");
                    return;
                }
                subscriptionId = id;
            }
        }
        List<MqttTopicSubscription> requested = subscribe.payload().topicSubscriptions();
        if (requested.isEmpty()) {
            scope.protocolError(ReasonCodes.PROTOCOL_ERROR, "SUBSCRIBE without topic filters");
            return;
        }
        Integer[] codes = new Integer[requested.size()];
        List<Subscription> accepted = new ArrayList<>();
        List<Integer> acceptedIndex = new ArrayList<>();
        for (int i = 0; i < requested.size(); i++) {
            String filter = requested.get(i).topicName();
            MqttSubscriptionOption option = requested.get(i).option();
            if (!TopicFilter.isValidFilter(filter) || !scope.withinTopicLimits(filter)) {
                codes[i] = v5 ? ReasonCodes.TOPIC_FILTER_INVALID & 0xFF : ReasonCodes.SUBACK_FAILURE_V3;
                continue;
            }
            if (v5 && TopicFilter.isShared(filter) && option.isNoLocal()) {
                scope.protocolError(ReasonCodes.PROTOCOL_ERROR, "no-local on shared subscription " + filter);
                return;
            }
            if (!scope.context.access().canSubscribe(scope.clientId, scope.username, filter)) {
                LOG.info("subscription of client {} to {} denied by the ACL", scope.clientId, filter);
                codes[i] = v5 ? ReasonCodes.NOT_AUTHORIZED & 0xFF : ReasonCodes.SUBACK_FAILURE_V3;
                continue;
            }
            SubscriptionOptions options = v5
                    ? new SubscriptionOptions(option.qos().value(), option.isNoLocal(), option.isRetainAsPublished(),
                    option.retainHandling().value(), subscriptionId)
                    : SubscriptionOptions.ofQos(option.qos().value());
            accepted.add(new Subscription(filter, options));
            acceptedIndex.add(i);
        }
        if (accepted.isEmpty()) {
            scope.channel.writeAndFlush(Packets.subAck(packetId, Arrays.asList(codes), MqttProperties.NO_PROPERTIES));
            return;
        }
        CompletableFuture<SubscribeResult> result;
        try {
            result = scope.session.subscribe(accepted);
        } catch (RuntimeException e) {
            result = CompletableFuture.failedFuture(e);
        }
        result.whenCompleteAsync((granted, error) -> {
            if (!scope.channel.isActive()) {
                return;
            }
            if (error != null && unwrap(error) instanceof SessionClosedException) {
                return;
            }
            if (error != null) {
                LOG.warn("SUBSCRIBE of client {} not stored: {}", scope.clientId, unwrap(error).toString());
            }
            for (int j = 0; j < accepted.size(); j++) {
                int code = error != null ? ReasonCodes.UNSPECIFIED_ERROR & 0xFF : granted.granted().get(j);
                if (code == SubscribeResult.QUOTA_EXCEEDED) {
                    scope.context.metrics().subscriptionRefused("max_subscriptions"); // the engine logs it
                }
                if (!v5 && code >= 0x80) {
                    code = ReasonCodes.SUBACK_FAILURE_V3; // 3.1.1 has a single failure code
                }
                codes[acceptedIndex.get(j)] = code;
                if (code < 0x80) {
                    scope.context.interceptors().subscribed(scope.clientId, scope.username, accepted.get(j).filter(), code);
                }
            }
            scope.channel.writeAndFlush(Packets.subAck(packetId, Arrays.asList(codes), MqttProperties.NO_PROPERTIES));
        }, scope.onLoop);
    }

    void receiveUnsubscribe(MqttUnsubscribeMessage unsubscribe) {
        int packetId = unsubscribe.idAndPropertiesVariableHeader().messageId();
        List<String> filters = unsubscribe.payload().topics();
        if (filters.isEmpty()) {
            scope.protocolError(ReasonCodes.PROTOCOL_ERROR, "UNSUBSCRIBE without topic filters");
            return;
        }
        Short[] codes = new Short[filters.size()];
        List<String> valid = new ArrayList<>();
        List<Integer> validIndex = new ArrayList<>();
        for (int i = 0; i < filters.size(); i++) {
            if (TopicFilter.isValidFilter(filters.get(i))) {
                valid.add(filters.get(i));
                validIndex.add(i);
            } else {
                codes[i] = (short) (ReasonCodes.TOPIC_FILTER_INVALID & 0xFF);
            }
        }
        CompletableFuture<List<Boolean>> result;
        try {
            result = valid.isEmpty() ? CompletableFuture.completedFuture(List.of()) : scope.session.unsubscribe(valid);
        } catch (RuntimeException e) {
            result = CompletableFuture.failedFuture(e);
        }
        result.whenCompleteAsync((removed, error) -> {
            if (!scope.channel.isActive() || (error != null && unwrap(error) instanceof SessionClosedException)) {
                return;
            }
            if (error != null) {
                LOG.warn("UNSUBSCRIBE of client {} not stored: {}", scope.clientId, unwrap(error).toString());
            }
            for (int j = 0; j < valid.size(); j++) {
                short code = error != null ? (short) (ReasonCodes.UNSPECIFIED_ERROR & 0xFF)
                        : removed.get(j) ? ReasonCodes.SUCCESS : ReasonCodes.NO_SUBSCRIPTION_EXISTED;
                codes[validIndex.get(j)] = code;
                if (error == null) {
                    scope.context.interceptors().unsubscribed(scope.clientId, scope.username, valid.get(j));
                }
            }
            scope.channel.writeAndFlush(Packets.unsubAck(packetId, Arrays.asList(codes), scope.isV5()));
        }, scope.onLoop);
    }
}
