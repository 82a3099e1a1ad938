package io.kgstore.plugin;

import static io.kgstore.plugin.GraphNames.ENTITY;
import static io.kgstore.plugin.GraphNames.ENTITY_KEY;
import static io.kgstore.plugin.GraphNames.PREDICTED;

import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Relationship;
import org.neo4j.graphdb.RelationshipType;
import org.neo4j.graphdb.ResourceIterator;
import org.neo4j.graphdb.Transaction;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;
import org.neo4j.procedure.TerminationGuard;

/**
 * {@code kgstore.complete(relation, config)}: asks the sidecar for the missing tails of every head of
 * {@code relation} and records the best ones as {@code KGSTORE_PREDICTED} edges.
 *
 * <p>All sidecar calls finish before the first write, so a sidecar failure leaves the database untouched;
 * all writes happen in the caller's transaction, so they become visible together on commit and a
 * failure rolls all of them back.
 */
public class Complete {

    static final String NAME = "kgstore.complete";
    private static final Set<String> KEYS = Set.of("k", "minScore", "limit", "dryRun", "batchSize");

    @Context
    public GraphDatabaseAPI db;

    @Context
    public Transaction tx;

    @Context
    public TerminationGuard guard;

    /** One predicted edge. */
    public static class Row {
        public final Node head;
        public final Node tail;
        public final double score;
        /** True when the edge is new (with dryRun: would be new); false when an existing prediction was updated. */
        public final boolean created;

        public Row(Node head, Node tail, double score, boolean created) {
            this.head = head;
            this.tail = tail;
            this.score = score;
            this.created = created;
        }
    }

    /** A predicted tail for a head, by key, with the model's score. */
    private record Candidate(String head, String tail, double score) {}

    /** What the sidecar answered for all heads: the model and version that answered, and the candidates, best first. */
    private record Proposals(String model, String version, List<Candidate> candidates) {}

    @Procedure(name = NAME, mode = Mode.WRITE)
    @Description("kgstore.complete(relation, config = {}) - asks the kgstore sidecar for the missing tails of every "
            + "(:Entity) head of relationships of type `relation` and writes the best ones as "
            + "(head)-[:KGSTORE_PREDICTED {relation, score, model, version, created_at}]->(tail). Yields head, tail, "
            + "score and created (true: new edge; false: an existing prediction was updated), best first. "
            + "Pairs that already are facts are skipped; re-running updates instead of duplicating. "
            + "config: k (answers per head, default 1), minScore (default null), limit (most rows, default 1000), "
            + "dryRun (default false: with true nothing is written and the rows say what would happen), "
            + "batchSize (heads per sidecar request, default 500). Every sidecar call finishes before the first "
            + "write, so a sidecar failure writes nothing; all writes are in the caller's transaction: they "
            + "become visible together on commit and any failure rolls all of them back.")
    public Stream<Row> complete(
            @Name("relation") String relation,
            @Name(value = "config", defaultValue = "{}") Map<String, Object> config) {
        Entities.relation(NAME, relation);
        if (relation.equals(PREDICTED.name())) {
            throw new IllegalArgumentException(NAME + ": " + relation
                    + " is the relationship type of kgstore's own predictions, not a relation of the model");
        }
        Options options = new Options(NAME, config, KEYS);
        long k = options.positive("k", 1);
        Double minScore = options.number("minScore");
        long limit = options.positive("limit", 1000);
        boolean dryRun = options.bool("dryRun", false);
        int batchSize = (int) Math.min(options.positive("batchSize", 500), Integer.MAX_VALUE);

        RelationshipType type = RelationshipType.withName(relation);
        TreeMap<String, Node> heads = heads(type);
        if (heads.isEmpty()) {
            throw new KgstoreException("no (:" + ENTITY.name() + ")-[:" + quote(relation) + "]->() facts in the "
                    + "database, so " + NAME + " has no heads to complete; relation names are case-sensitive "
                    + "relationship types (see CALL db.relationshipTypes())");
        }
        Proposals proposals = ask(relation, new ArrayList<>(heads.keySet()), k, minScore, batchSize);
        return write(type, heads, proposals, limit, dryRun).stream();
    }

    /**
     * Every sidecar call, before any write: asks {@code POST /predict} for {@code k} tails of each head, in
     * requests of {@code batchSize} heads, and returns the candidates sorted best first (score descending,
     * then head and tail key). Fails when the sidecar fails or swaps its model between two requests.
     */
    private Proposals ask(String relation, List<String> heads, long k, Double minScore, int batchSize) {
        SidecarApi api = new SidecarApi(new SidecarClient(KgstoreConf.current(db), guard));
        List<Candidate> candidates = new ArrayList<>();
        String model = null;
        String version = null;
        for (int from = 0; from < heads.size(); from += batchSize) {
            List<String> batch = heads.subList(from, Math.min(heads.size(), from + batchSize));
            List<SidecarApi.Query> queries = new ArrayList<>(batch.size());
            for (String head : batch) {
                queries.add(new SidecarApi.Query(head, relation, "out"));
            }
            SidecarApi.PredictAnswer answer = api.predict(queries, k, true, minScore, "skip");
            if (from == 0) {
                model = answer.model();
                version = answer.version();
            } else if (!Objects.equals(model, answer.model()) || !Objects.equals(version, answer.version())) {
                throw new KgstoreException("the kgstore sidecar switched from model " + model + " version " + version
                        + " to model " + answer.model() + " version " + answer.version() + " during " + NAME
                        + "; nothing was written, run it again");
            }
            for (int i = 0; i < batch.size(); i++) {
                for (SidecarApi.Prediction p : answer.results().get(i).predictions()) {
                    if (minScore == null || p.score() >= minScore) {
                        candidates.add(new Candidate(batch.get(i), p.key(), p.score()));
                    }
                }
            }
        }
        candidates.sort(Comparator.comparingDouble(Candidate::score).reversed()
                .thenComparing(Candidate::head)
                .thenComparing(Candidate::tail));
        return new Proposals(model, version, candidates);
    }

    /**
     * The writes, in the caller's transaction: walks the candidates best first until {@code limit} rows,
     * skipping tails the database no longer has, repeated pairs and pairs that already are facts; refreshes an
     * existing prediction or creates a new one (with {@code dryRun}: neither) and yields a row for each.
     */
    private List<Row> write(RelationshipType type, Map<String, Node> heads, Proposals proposals, long limit,
                            boolean dryRun) {
        PredictedEdges edges = new PredictedEdges(type.name(), proposals.model(), proposals.version(),
                ZonedDateTime.now(ZoneOffset.UTC));
        List<Row> rows = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        try (EntityIndex entities = new EntityIndex(tx)) {
            for (Candidate c : proposals.candidates()) {
                if (rows.size() >= limit) {
                    break;
                }
                Node head = heads.get(c.head());
                Node tail = entities.node(c.tail());
                if (tail == null || !seen.add(c.head() + '\u0000' + c.tail()) || edges.isFact(type, head, tail)) {
                    continue;
                }
                Relationship existing = edges.find(head, tail);
                if (!dryRun) {
                    edges.write(existing != null ? existing : head.createRelationshipTo(tail, PREDICTED), c.score());
                }
                rows.add(new Row(head, tail, c.score(), existing == null));
            }
        }
        return rows;
    }

    /** The distinct (:Entity {key}) start nodes of relationships of {@code type}, by key. */
    private TreeMap<String, Node> heads(RelationshipType type) {
        TreeMap<String, Node> heads = new TreeMap<>();
        try (ResourceIterator<Relationship> facts = tx.findRelationships(type)) {
            while (facts.hasNext()) {
                Node start = facts.next().getStartNode();
                Object key = start.getProperty(ENTITY_KEY, null);
                if (key instanceof String && start.hasLabel(ENTITY)) {
                    heads.putIfAbsent((String) key, start);
                }
            }
        }
        return heads;
    }

    /** A relationship type in Cypher syntax, backtick-quoted. */
    private static String quote(String name) {
        return "`" + name.replace("`", "``") + "`";
    }
}
