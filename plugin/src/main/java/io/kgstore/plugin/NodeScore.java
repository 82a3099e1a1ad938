package io.kgstore.plugin;

import org.neo4j.graphdb.Node;

/** One row of {@code kgstore.predict} and {@code kgstore.nearest}: YIELD node, score (higher is better). */
public class NodeScore {
    /** The predicted entity (predict) or the neighbour (nearest). */
    public final Node node;
    /** The model's score (predict) or the vector index's similarity (nearest). */
    public final double score;

    public NodeScore(Node node, double score) {
        this.node = node;
        this.score = score;
    }
}
