package io.durablemq.broker.security;

import io.durablemq.broker.config.BrokerConfigException;
import io.moquette.broker.security.IAuthorizatorPolicy;
import io.moquette.broker.subscriptions.Topic;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Rules of a Moquette {@code acl_file}, with Moquette's grammar:
 * <pre>
 * # comment
 * topic [read|write|readwrite] FILTER     rule for everyone (before any 'user' line)
 * user NAME                               following 'topic' lines apply to NAME only
 * pattern [read|write|readwrite] FILTER   rule for everyone, %c = client id, %u = user name
 * </pre>
 * No permission word means readwrite. As in Moquette, a {@code pattern} line ends a
 * {@code user} section, and {@code topic} lines after it are treated as patterns. Everything
 * not granted is denied.
 * <p>
 * Differences from Moquette 0.17, all failing closed: a pattern naming %u is skipped for a
 * client without a user name (Moquette throws), and a pattern is skipped for an identity
 * containing '/', '+', '#' or NUL, which would otherwise widen the substituted filter into other
 * clients' topics; subscriptions are checked by filter coverage ({@link TopicFilters#covers}),
 * so a rule {@code a/+} does not allow subscribing to {@code a/#}.
 */
public final class AclRules implements IAuthorizatorPolicy {

    /** What a rule grants. */
    public enum Permission {
        READ, WRITE, READWRITE;

        boolean grants(Permission wanted) {
            return this == READWRITE || this == wanted;
        }
    }

    private record Rule(Permission permission, String filter, int line) { }

    private final List<Rule> global;
    private final List<Rule> patterns;
    private final Map<String, List<Rule>> users;

    private AclRules(List<Rule> global, List<Rule> patterns, Map<String, List<Rule>> users) {
        this.global = List.copyOf(global);
        this.patterns = List.copyOf(patterns);
        Map<String, List<Rule>> u = new HashMap<>();
        users.forEach((k, v) -> u.put(k, List.copyOf(v)));
        this.users = Map.copyOf(u);
    }

    public static AclRules read(Path file) throws BrokerConfigException {
        try {
            return parse(Files.readAllLines(file, StandardCharsets.UTF_8), "acl_file " + file);
        } catch (IOException e) {
            throw new BrokerConfigException("acl_file " + file + ": cannot be read: " + e, e);
        }
    }

    /** @param source names the rules in error messages */
    public static AclRules parse(List<String> lines, String source) throws BrokerConfigException {
        List<Rule> global = new ArrayList<>();
        List<Rule> patterns = new ArrayList<>();
        Map<String, List<Rule>> users = new HashMap<>();
        List<Rule> section = global;
        for (int i = 0; i < lines.size(); i++) {
            int lineNo = i + 1;
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] tokens = line.split("\\s+");
            String where = source + ":" + lineNo + ": ";
            String keyword = tokens[0].toLowerCase(Locale.ROOT);
            switch (keyword) {
                case "user" -> {
                    if (tokens.length < 2 || tokens[1].startsWith("#")) {
                        throw new BrokerConfigException(where + "'user' needs a user name");
                    }
                    section = users.computeIfAbsent(tokens[1], k -> new ArrayList<>());
                }
                case "topic" -> section.add(rule(tokens, where, lineNo));
                case "pattern" -> {
                    section = patterns;
                    patterns.add(rule(tokens, where, lineNo));
                }
                default -> throw new BrokerConfigException(where + "unknown keyword '" + tokens[0]
                        + "' (expected topic, user or pattern)");
            }
        }
        return new AclRules(global, patterns, users);
    }

    private static Rule rule(String[] tokens, String where, int lineNo) throws BrokerConfigException {
        int end = tokens.length;
        for (int i = 2; i < tokens.length; i++) {
            boolean isTopicHash = i == 2 && isPermission(tokens[1]); // "topic read #"
            if (tokens[i].startsWith("#") && !isTopicHash) {
                end = i; // a trailing comment
                break;
            }
        }
        if (end < 2 || (end == 2 && isPermission(tokens[1]))) {
            throw new BrokerConfigException(where + "'" + tokens[0] + "' needs a topic filter");
        }
        Permission permission = Permission.READWRITE;
        int topicStart = 1;
        if (end > 2) {
            if (!isPermission(tokens[1])) {
                throw new BrokerConfigException(where + "'" + tokens[1] + "' is not a permission "
                        + "(read, write or readwrite)");
            }
            permission = Permission.valueOf(tokens[1].toUpperCase(Locale.ROOT));
            topicStart = 2;
        }
        // Moquette keeps blanks inside a topic; they are rare but legal MQTT.
        String filter = String.join(" ", Arrays.copyOfRange(tokens, topicStart, end));
        String problem = TopicFilters.invalidFilter(filter);
        if (problem != null) {
            throw new BrokerConfigException(where + "topic filter '" + filter + "': " + problem);
        }
        return new Rule(permission, filter, lineNo);
    }

    private static boolean isPermission(String token) {
        String t = token.toLowerCase(Locale.ROOT);
        return t.equals("read") || t.equals("write") || t.equals("readwrite");
    }

    /** May this client publish to {@code topic}? */
    public boolean canPublish(String clientId, String username, String topic) {
        return allowed(Permission.WRITE, clientId, username, topic);
    }

    /** May this client subscribe to {@code filter} (every topic it can match)? */
    public boolean canSubscribe(String clientId, String username, String filter) {
        return allowed(Permission.READ, clientId, username, filter);
    }

    private boolean allowed(Permission wanted, String clientId, String username, String filter) {
        if (anyCovers(global, wanted, filter)) {
            return true;
        }
        for (Rule rule : patterns) {
            if (rule.permission().grants(wanted)) {
                String substituted = substitute(rule.filter(), clientId, username);
                if (substituted != null && TopicFilters.covers(substituted, filter)) {
                    return true;
                }
            }
        }
        if (username != null && !username.isEmpty()) {
            List<Rule> own = users.get(username);
            return own != null && anyCovers(own, wanted, filter);
        }
        return false;
    }

    private static boolean anyCovers(List<Rule> rules, Permission wanted, String filter) {
        for (Rule rule : rules) {
            if (rule.permission().grants(wanted) && TopicFilters.covers(rule.filter(), filter)) {
                return true;
            }
        }
        return false;
    }

    /** The rule with %c and %u replaced, or null when an identity it needs is missing or unsafe. */
    private static String substitute(String filter, String clientId, String username) {
        String out = filter;
        if (out.contains("%c")) {
            if (!safeIdentity(clientId)) {
                return null;
            }
            out = out.replace("%c", clientId);
        }
        if (out.contains("%u")) {
            if (!safeIdentity(username)) {
                return null;
            }
            out = out.replace("%u", username);
        }
        return out;
    }

    private static boolean safeIdentity(String id) {
        if (id == null || id.isEmpty()) {
            return false;
        }
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            if (c == '/' || c == '+' || c == '#' || c == '\0') {
                return false;
            }
        }
        return true;
    }

    // Moquette's SPI, so these rules can also be handed to code expecting an IAuthorizatorPolicy.
    @Override
    public boolean canWrite(Topic topic, String user, String client) {
        return canPublish(client, user, topic.toString());
    }

    @Override
    public boolean canRead(Topic topic, String user, String client) {
        return canSubscribe(client, user, topic.toString());
    }

    public int ruleCount() {
        return global.size() + patterns.size() + users.values().stream().mapToInt(List::size).sum();
    }
}
