package io.kgstore.plugin;

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
 */
final class PredictedEdges {

    static final RelationshipType TYPE = RelationshipType.withName("KGSTORE_PREDICTED");

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
        return first(TYPE, head, tail, r -> relation.equals(r.getProperty("relation", null)));
    }

    /** Sets all properties of a new or existing prediction. */
    void write(Relationship edge, double score) {
        edge.setProperty("relation", relation);
        edge.setProperty("score", score);
        set(edge, "model", model);
        set(edge, "version", version);
        edge.setProperty("created_at", createdAt);
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
