package io.kgstore.plugin;

import static io.kgstore.plugin.GraphNames.ENTITY;
import static io.kgstore.plugin.GraphNames.ENTITY_KEY;

import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.Node;

/**
 * How kgstore finds entities: {@code (:Entity {key})} nodes, whose {@code key} is what the sidecar knows
 * (the names are {@link GraphNames#ENTITY} and {@link GraphNames#ENTITY_KEY}).
 */
final class Entities {

    private Entities() {}

    /** The node's {@code key}; fails clearly for a null node or one without a string key. */
    static String keyOf(String procedure, String parameter, Node node) {
        if (node == null) {
            throw new IllegalArgumentException(procedure + ": " + parameter + " is null");
        }
        Object key = node.getProperty(ENTITY_KEY, null);
        if (key == null) {
            throw new IllegalArgumentException(procedure + ": " + parameter + " (node " + node.getElementId()
                    + ", labels " + labels(node) + ") has no `" + ENTITY_KEY + "` property; only " + pattern()
                    + " nodes are known to the model");
        }
        if (!(key instanceof String)) {
            throw new IllegalArgumentException(procedure + ": " + parameter + " (node " + node.getElementId()
                    + ") has a `" + ENTITY_KEY + "` that is not a string: " + key);
        }
        return (String) key;
    }

    static KgstoreException notUnique(String key) {
        return new KgstoreException("more than one " + pattern(key) + " node; kgstore needs unique keys "
                + "(CREATE CONSTRAINT FOR (e:" + ENTITY.name() + ") REQUIRE e." + ENTITY_KEY + " IS UNIQUE)");
    }

    /** {@code (:Entity {key})}, for messages. */
    static String pattern() {
        return "(:" + ENTITY.name() + " {" + ENTITY_KEY + "})";
    }

    /** {@code (:Entity {key: 'ex:a'})}, for messages. */
    static String pattern(String key) {
        return "(:" + ENTITY.name() + " {" + ENTITY_KEY + ": '" + key + "'})";
    }

    /** A relation name must be a non-empty string; it is used verbatim (relation names are data). */
    static String relation(String procedure, String relation) {
        if (relation == null || relation.isEmpty()) {
            throw new IllegalArgumentException(procedure + ": relation must be a non-empty string (a relationship type name), got "
                    + (relation == null ? "null" : "''"));
        }
        return relation;
    }

    private static String labels(Node node) {
        StringBuilder out = new StringBuilder();
        for (Label label : node.getLabels()) {
            out.append(':').append(label.name());
        }
        return out.length() == 0 ? "none" : out.toString();
    }
}
