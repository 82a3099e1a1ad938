package io.kgstore.plugin;

import static io.kgstore.plugin.GraphNames.PREDICTED;
import static io.kgstore.plugin.GraphNames.PREDICTED_CREATED_AT;
import static io.kgstore.plugin.GraphNames.PREDICTED_MODEL;
import static io.kgstore.plugin.GraphNames.PREDICTED_RELATION;
import static io.kgstore.plugin.GraphNames.PREDICTED_SCORE;
import static io.kgstore.plugin.GraphNames.PREDICTED_VERSION;

import java.time.ZonedDateTime;
import java.util.function.Predicate;
import org.neo4j.graphdb.Direction;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Relationship;
import org.neo4j.graphdb.RelationshipType;
import org.neo4j.graphdb.ResourceIterable;

/**
 * kgstore's predicted edges: {@code (h)-[:KGSTORE_PREDICTED {relation, score, model, version, created_at}]->(t)}.
 * They are kept apart from facts (whose type is the relation itself) so that predictions never pass for data.
 * The type and property names are {@link GraphNames}'.
 */
final class PredictedEdges {

    private final String relation;
    private final String model;
    private final String version;
    private final ZonedDateTime createdAt;

    PredictedEdges(String relation, String model, String version, ZonedDateTime createdAt) {
        this.relation = relation;
        this.model = model;
        this.version = version;
        this.createdAt = createdAt;
    }

    /** Whether {@code (head)-[:type]->(tail)} exists. */
    boolean isFact(RelationshipType type, Node head, Node tail) {
        return first(type, head, tail, r -> true) != null;
    }

    /** The prediction of this relation from head to tail, or null. */
    Relationship find(Node head, Node tail) {
        return first(PREDICTED, head, tail, r -> relation.equals(r.getProperty(PREDICTED_RELATION, null)));
    }

    /** Sets all properties of a new or existing prediction. */
    void write(Relationship edge, double score) {
        edge.setProperty(PREDICTED_RELATION, relation);
        edge.setProperty(PREDICTED_SCORE, score);
        set(edge, PREDICTED_MODEL, model);
        set(edge, PREDICTED_VERSION, version);
        edge.setProperty(PREDICTED_CREATED_AT, createdAt);
    }

    private static void set(Relationship edge, String key, String value) {
        if (value == null) {
            edge.removeProperty(key);
        } else {
            edge.setProperty(key, value);
        }
    }

    /** The first {@code (head)-[:type]->(tail)} that {@code accept}s; walks the side with fewer such relationships. */
    private static Relationship first(RelationshipType type, Node head, Node tail, Predicate<Relationship> accept) {
        boolean fromHead = head.getDegree(type, Direction.OUTGOING) <= tail.getDegree(type, Direction.INCOMING);
        Node from = fromHead ? head : tail;
        Node to = fromHead ? tail : head;
        try (ResourceIterable<Relationship> rels =
                from.getRelationships(fromHead ? Direction.OUTGOING : Direction.INCOMING, type)) {
            for (Relationship r : rels) {
                if (r.getStartNode().equals(head) && r.getEndNode().equals(tail) && accept.test(r)) {
                    return r;
                }
            }
        }
        return null;
    }
}
