package io.durablemq.broker.security;

import io.durablemq.broker.config.BrokerConfigException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AclRulesTest {

    private static AclRules rules(String... lines) throws BrokerConfigException {
        return AclRules.parse(List.of(lines), "acl");
    }

    private static String error(String... lines) {
        return assertThrows(BrokerConfigException.class, () -> rules(lines)).getMessage();
    }

    @Test
    void filterCoverage() {
        assertTrue(TopicFilters.covers("a/b", "a/b"));
        assertFalse(TopicFilters.covers("a/b", "a/c"));
        assertFalse(TopicFilters.covers("a/b", "a/b/c"));
        assertTrue(TopicFilters.covers("a/+", "a/b"));
        assertTrue(TopicFilters.covers("a/+", "a/+"));
        assertFalse(TopicFilters.covers("a/+", "a/#"), "a/+ must not grant a/# (it would reach a/b/c)");
        assertFalse(TopicFilters.covers("a/+", "a/b/c"));
        assertTrue(TopicFilters.covers("a/#", "a"), "a/# matches its parent level");
        assertTrue(TopicFilters.covers("a/#", "a/b/c"));
        assertTrue(TopicFilters.covers("a/#", "a/+/c"));
        assertTrue(TopicFilters.covers("a/#", "a/#"));
        assertFalse(TopicFilters.covers("a/b", "a/+"), "a literal rule does not grant a wildcard");
        assertFalse(TopicFilters.covers("a/b/#", "a/#"));
        assertTrue(TopicFilters.covers("#", "x/y"));
        assertFalse(TopicFilters.covers("#", "$SYS/broker"), "leading wildcards never match $ topics");
        assertFalse(TopicFilters.covers("+/broker", "$SYS/broker"));
        assertTrue(TopicFilters.covers("$SYS/#", "$SYS/broker"));
        assertTrue(TopicFilters.covers("a//b", "a//b"));
        assertFalse(TopicFilters.covers("a/+", "a"));
    }

    @Test
    void globalUserAndPermissionRules() throws Exception {
        AclRules acl = rules(
                "# global rules",
                "topic read public/#",
                "topic write inbox/+",
                "topic status",
                "",
                "user alice",
                "topic readwrite alice/#",
                "topic read shared/data # trailing comment",
                "user bob",
                "topic write bob/out");
        // global
        assertTrue(acl.canSubscribe("c1", null, "public/news"));
        assertFalse(acl.canPublish("c1", null, "public/news"), "read only");
        assertTrue(acl.canPublish("c1", null, "inbox/x"));
        assertFalse(acl.canSubscribe("c1", null, "inbox/x"), "write only");
        assertTrue(acl.canPublish("c1", null, "status"), "no permission word = readwrite");
        assertTrue(acl.canSubscribe("c1", null, "status"));
        // user sections
        assertTrue(acl.canPublish("c1", "alice", "alice/x/y"));
        assertTrue(acl.canSubscribe("c1", "alice", "alice/#"));
        assertTrue(acl.canSubscribe("c1", "alice", "shared/data"));
        assertFalse(acl.canSubscribe("c1", "bob", "shared/data"));
        assertFalse(acl.canPublish("c1", "bob", "alice/x"));
        assertTrue(acl.canPublish("c1", "bob", "bob/out"));
        assertFalse(acl.canSubscribe("c1", "bob", "bob/out"));
        // anonymous clients get global rules only
        assertFalse(acl.canPublish("c1", null, "alice/x"));
        // nothing granted = denied
        assertFalse(acl.canPublish("c1", "alice", "other"));
        assertFalse(acl.canSubscribe("c1", "alice", "#"));
    }

    @Test
    void patternsSubstituteClientIdAndUserName() throws Exception {
        AclRules acl = rules(
                "pattern read devices/%c/config",
                "pattern write devices/%c/telemetry/#",
                "pattern readwrite users/%u/#",
                "topic read after/pattern");
        assertTrue(acl.canSubscribe("dev1", null, "devices/dev1/config"));
        assertFalse(acl.canSubscribe("dev2", null, "devices/dev1/config"));
        assertTrue(acl.canPublish("dev1", null, "devices/dev1/telemetry/temp"));
        assertFalse(acl.canPublish("dev1", null, "devices/dev2/telemetry/temp"));
        assertTrue(acl.canSubscribe("x", "carol", "users/carol/inbox"));
        assertFalse(acl.canSubscribe("x", "carol", "users/dave/inbox"));
        // %u with no user name: the rule does not apply (Moquette 0.17 threw here)
        assertFalse(acl.canSubscribe("x", null, "users//inbox"));
        // identities with wildcards or '/' would widen the rule into other clients' topics: skipped
        assertFalse(acl.canSubscribe("+", null, "devices/dev1/config"));
        assertFalse(acl.canPublish("#", null, "devices/dev1/telemetry/t"));
        assertFalse(acl.canPublish("dev1/telemetry", null, "devices/dev1/telemetry/telemetry/x"));
        // as in Moquette, a topic line after a pattern line belongs to the patterns (applies to everyone)
        assertTrue(acl.canSubscribe("anyone", null, "after/pattern"));
    }

    @Test
    void userSectionEndsAtAPattern() throws Exception {
        AclRules acl = rules("user alice", "topic alice/#", "pattern read %c/in", "topic read everyone/#");
        assertTrue(acl.canPublish("c", "alice", "alice/x"));
        assertFalse(acl.canPublish("c", "bob", "alice/x"));
        assertTrue(acl.canSubscribe("c", "bob", "everyone/x"));
        assertTrue(acl.canSubscribe("c", "bob", "c/in"));
    }

    @Test
    void hashAsTheTopicIsNotAComment() throws Exception {
        AclRules acl = rules("topic read #", "user admin", "topic readwrite # # all of it");
        assertTrue(acl.canSubscribe("c", null, "a/b"));
        assertFalse(acl.canPublish("c", null, "a/b"));
        assertTrue(acl.canPublish("c", "admin", "a/b"));
    }

    @Test
    void moquetteSpiViewAgrees() throws Exception {
        AclRules acl = rules("user u", "topic write w/#", "topic read r/+");
        assertTrue(acl.canWrite(new io.moquette.broker.subscriptions.Topic("w/1"), "u", "c"));
        assertFalse(acl.canRead(new io.moquette.broker.subscriptions.Topic("w/1"), "u", "c"));
        assertTrue(acl.canRead(new io.moquette.broker.subscriptions.Topic("r/1"), "u", "c"));
        assertEquals(2, acl.ruleCount());
    }

    @Test
    void parseErrorsNameTheLine() {
        assertEquals("acl:2: unknown keyword 'topics' (expected topic, user or pattern)",
                error("topic a", "topics b"));
        assertEquals("acl:1: 'reed' is not a permission (read, write or readwrite)", error("topic reed a/b"));
        assertEquals("acl:1: 'topic' needs a topic filter", error("topic"));
        assertEquals("acl:1: 'topic' needs a topic filter", error("topic read"));
        assertEquals("acl:3: 'user' needs a user name", error("# c", "", "user"));
        assertEquals("acl:1: topic filter 'a/#/b': '#' must be a whole level and the last one", error("topic a/#/b"));
        assertEquals("acl:1: topic filter 'a/b+': '+' must be a whole level", error("pattern read a/b+"));
    }
}
