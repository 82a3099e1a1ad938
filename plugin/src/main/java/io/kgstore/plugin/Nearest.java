package io.kgstore.plugin;

import static io.kgstore.plugin.GraphNames.KG_MODEL;
import static io.kgstore.plugin.GraphNames.MODEL_ID;
import static io.kgstore.plugin.GraphNames.MODEL_INDEX;
import static io.kgstore.plugin.GraphNames.MODEL_PROPERTY;
import static io.kgstore.plugin.GraphNames.MODEL_WRITTEN_AT;
import static io.kgstore.plugin.GraphNames.SEARCH_WIDTH;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.QueryExecutionException;
import org.neo4j.graphdb.ResourceIterator;
import org.neo4j.graphdb.Result;
import org.neo4j.graphdb.Transaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;

/**
 * {@code kgstore.nearest(node, k, model)}: the entities whose embeddings are closest to the node's, through the
 * model's vector index. Reads only the database; does not need the sidecar.
 */
public class Nearest {

    static final String NAME = "kgstore.nearest";

    /** The KgModel written last; one without written_at only when no other has it. */
    private static final String LATEST_MODEL = "MATCH (m:" + KG_MODEL.name() + ") RETURN m ORDER BY m."
            + MODEL_WRITTEN_AT + " IS NULL, m." + MODEL_WRITTEN_AT + " DESC LIMIT 1";

    @Context
    public Transaction tx;

    @Procedure(name = NAME, mode = Mode.READ)
    @Description("kgstore.nearest(node, k, model = null) - the k nodes whose embeddings are nearest to the node's, "
            + "best first, from the vector index of a (:KgModel {id}) (its `index` and `property`; null model: the "
            + "KgModel with the latest written_at). The node itself is left out. Does not call the sidecar.")
    public Stream<NodeScore> nearest(
            @Name("node") Node node,
            @Name("k") Long k,
            @Name(value = "model", defaultValue = "null") String model) {
        // Neo4j 5 passes the declared default of a STRING parameter as the text "null", not as null.
        if ("null".equals(model)) {
            model = null;
        }
        if (node == null) {
            throw new IllegalArgumentException(NAME + ": node is null");
        }
        if (k == null || k <= 0) {
            throw new IllegalArgumentException(NAME + ": k must be at least 1, got " + k);
        }
        if (k >= Integer.MAX_VALUE) {
            throw new IllegalArgumentException(NAME + ": k is too large: " + k);
        }
        Node kgModel = model == null ? latestModel() : namedModel(model);
        String id = String.valueOf(kgModel.getProperty(MODEL_ID, "?"));
        String index = requiredString(kgModel, MODEL_INDEX, id);
        String property = requiredString(kgModel, MODEL_PROPERTY, id);
        Object vector = node.getProperty(property, null);
        if (vector == null) {
            throw new IllegalArgumentException(NAME + ": node " + node.getElementId() + " has no `" + property
                    + "` property, so it has no vector in model '" + id + "'");
        }

        List<NodeScore> rows = new ArrayList<>();
        try (Result result = tx.execute(vectorQuery(index) + " RETURN node, score ORDER BY score DESC",
                Map.of("index", index, "n", Math.max(k + 1, SEARCH_WIDTH), "vector", vector))) {
            while (result.hasNext() && rows.size() < k) {
                Map<String, Object> row = result.next();
                Node neighbour = (Node) row.get("node");
                if (!neighbour.getElementId().equals(node.getElementId())) {
                    rows.add(new NodeScore(neighbour, ((Number) row.get("score")).doubleValue()));
                }
            }
        } catch (QueryExecutionException e) {
            throw new KgstoreException(NAME + ": querying the vector index '" + index + "' of model '" + id
                    + "' failed: " + e.getMessage());
        }
        return rows.stream();
    }

    /**
     * The query returning {@code node, score} for {@code $vector} and {@code $n} on the index, as this server offers
     * it: the Cypher 25 {@code SEARCH} subclause from Neo4j 2026.01 (where {@code db.index.vector.queryNodes} is
     * deprecated), the procedure before. The one place the plugin branches on the server version for vector search
     * (kgstore/vector_query.py is its Python twin). The SEARCH subclause takes the index by name, not as a parameter.
     */
    private String vectorQuery(String index) {
        if (!hasSearchClause(serverVersion())) {
            return "CALL db.index.vector.queryNodes($index, $n, $vector) YIELD node, score";
        }
        return "CYPHER 25 MATCH (node) SEARCH node IN (VECTOR INDEX `" + index.replace("`", "``")
                + "` FOR $vector LIMIT $n) SCORE AS score WITH node, score";
    }

    private static volatile String cachedServerVersion;

    private String serverVersion() {
        String version = cachedServerVersion;
        if (version == null) {
            try (Result result = tx.execute("CALL dbms.components() YIELD versions RETURN versions[0] AS v")) {
                version = result.hasNext() ? String.valueOf(result.next().get("v")) : "0";
            }
            cachedServerVersion = version;
        }
        return version;
    }

    /** True for Neo4j 2026.01 and newer ({@code 2026.08.1}); false for 5.26.x and the 2025 releases. */
    static boolean hasSearchClause(String version) {
        String[] parts = version.split("[^0-9]+");
        if (parts.length == 0 || parts[0].isEmpty()) {
            return false;
        }
        try {
            int major = Integer.parseInt(parts[0]);
            int minor = parts.length > 1 ? Integer.parseInt(parts[1]) : 0;
            return major > 2026 || (major == 2026 && minor >= 1);
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private Node latestModel() {
        try (Result result = tx.execute(LATEST_MODEL);
             ResourceIterator<Node> models = result.columnAs("m")) {
            if (!models.hasNext()) {
                String kgModel = "(:" + KG_MODEL.name() + ")";
                throw new KgstoreException(NAME + ": no " + kgModel + " node in the database; write a trained model's "
                        + "embeddings back into Neo4j first (that creates the " + kgModel + " node and its vector index)");
            }
            return models.next();
        }
    }

    private Node namedModel(String model) {
        try (ResourceIterator<Node> models = tx.findNodes(KG_MODEL, MODEL_ID, model)) {
            if (models.hasNext()) {
                return models.next();
            }
        }
        List<String> ids = new ArrayList<>();
        try (ResourceIterator<Node> all = tx.findNodes(KG_MODEL)) {
            all.forEachRemaining(m -> ids.add(String.valueOf(m.getProperty(MODEL_ID, "?"))));
        }
        throw new KgstoreException(NAME + ": no " + modelPattern(model) + "; "
                + (ids.isEmpty() ? "there is no (:" + KG_MODEL.name() + ") at all"
                        : "models present: " + String.join(", ", ids)));
    }

    private static String requiredString(Node kgModel, String key, String id) {
        Object value = kgModel.getProperty(key, null);
        if (!(value instanceof String) || ((String) value).isEmpty()) {
            throw new KgstoreException(NAME + ": " + modelPattern(id) + " has no `" + key
                    + "` property (the name of its vector " + (key.equals(MODEL_INDEX) ? "index" : "property") + ")");
        }
        return (String) value;
    }

    /** {@code (:KgModel {id: 'demo'})}, for messages. */
    private static String modelPattern(String id) {
        return "(:" + KG_MODEL.name() + " {" + MODEL_ID + ": '" + id + "'})";
    }
}
