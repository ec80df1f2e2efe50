package io.durablemq.engine.topic;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TopicFilterTest {
    @ParameterizedTest
    @CsvSource({
            "a/b, a/b, true", "a/+, a/b, true", "a/+, a/b/c, false", "a/#, a, true", "a/#, a/b/c, true",
            "#, a/b, true", "+/+, a/b, true", "+, a/b, false", "a/+/c, a/x/c, true", "+/b, /b, true",
            "/+, /x, true", "a/b, a/b/, false", "a/b/, a/b/, true", "+/#, a, true",
            "#, $SYS/x, false", "+/x, $SYS/x, false", "$SYS/#, $SYS/x, true", "$SYS/+, $SYS/x, true"})
    void matchesPerSpec(String filter, String topic, boolean expected) {
        assertEquals(expected, TopicFilter.matches(filter, topic), filter + " vs " + topic);
        // The index must agree with the reference matcher.
        SubscriptionIndex index = new SubscriptionIndex();
        index.add("c", filter, SubscriptionOptions.ofQos(1));
        List<String> hits = new ArrayList<>();
        index.match(topic, new SubscriptionIndex.Visitor() {
            @Override
            public void subscriber(String clientId, SubscriptionOptions options) {
                hits.add(clientId);
            }

            @Override
            public void sharedGroup(SubscriptionIndex.SharedGroup group) {
            }
        });
        assertEquals(expected, !hits.isEmpty(), "index: " + filter + " vs " + topic);
    }

    @ParameterizedTest
    @ValueSource(strings = {"a/#/b", "a#", "a/b+", "", "#/a", "$share/g", "$share//a", "$share/g+/a", "a\0b"})
    void invalidFilters(String f) {
        assertFalse(TopicFilter.isValidFilter(f), f);
    }

    @ParameterizedTest
    @ValueSource(strings = {"a", "a/b", "#", "+", "a/+/b/#", "/", "$share/g/a/#", "$SYS/#"})
    void validFilters(String f) {
        assertTrue(TopicFilter.isValidFilter(f), f);
    }

    @Test
    void topicNamesHaveNoWildcards() {
        assertTrue(TopicFilter.isValidTopicName("a/b"));
        assertFalse(TopicFilter.isValidTopicName("a/+"));
        assertFalse(TopicFilter.isValidTopicName("a/#"));
        assertFalse(TopicFilter.isValidTopicName(""));
        assertFalse(TopicFilter.isValidTopicName("a\0"));
    }

    @Test
    void sharedFiltersParse() {
        assertEquals(new SharedFilter("g", "a/+"), TopicFilter.parseShared("$share/g/a/+"));
        assertNull(TopicFilter.parseShared("a/b"));
    }

    @Test
    void indexRemovalPrunesAndCounts() {
        SubscriptionIndex index = new SubscriptionIndex();
        index.add("a", "x/y", SubscriptionOptions.ofQos(0));
        index.add("b", "$share/g/x/y", SubscriptionOptions.ofQos(1));
        index.add("a", "x/y", SubscriptionOptions.ofQos(2)); // replace, not add
        assertEquals(2, index.size());
        assertTrue(index.remove("a", "x/y"));
        assertFalse(index.remove("a", "x/y"));
        assertTrue(index.remove("b", "$share/g/x/y"));
        assertEquals(0, index.size());
    }
}
