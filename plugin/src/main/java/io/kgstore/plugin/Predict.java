package io.kgstore.plugin;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Transaction;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;
import org.neo4j.procedure.TerminationGuard;

/** {@code kgstore.predict(node, relation, config)}: link prediction for one entity through the sidecar. */
public class Predict {

    static final String NAME = "kgstore.predict";
    private static final Set<String> KEYS = Set.of("k", "direction", "minScore", "filterKnown");

    @Context
    public GraphDatabaseAPI db;

    @Context
    public Transaction tx;

    @Context
    public TerminationGuard guard;

    @Procedure(name = NAME, mode = Mode.READ)
    @Description("kgstore.predict(node, relation, config = {}) - asks the kgstore sidecar which entities complete "
            + "(node)-[relation]->(?) (direction 'out', the default) or (?)-[relation]->(node) (direction 'in'). "
            + "Yields the (:Entity) nodes with their scores, best first. config: k (default 10), "
            + "direction ('out' | 'in'), minScore (default null: no threshold), filterKnown (default true: "
            + "leave out facts the model was trained on). Keys the database no longer has are skipped.")
    public Stream<NodeScore> predict(
            @Name("node") Node node,
            @Name("relation") String relation,
            @Name(value = "config", defaultValue = "{}") Map<String, Object> config) {
        String key = Entities.keyOf(NAME, "node", node);
        Entities.relation(NAME, relation);
        Options options = new Options(NAME, config, KEYS);
        long k = options.positive("k", 10);
        String direction = options.choice("direction", "out", Set.of("out", "in"));
        Double minScore = options.number("minScore");
        boolean filterKnown = options.bool("filterKnown", true);

        SidecarApi api = new SidecarApi(new SidecarClient(KgstoreConf.current(db), guard));
        SidecarApi.PredictAnswer answer =
                api.predict(List.of(new SidecarApi.Query(key, relation, direction)), k, filterKnown, minScore, "error");

        List<NodeScore> rows = new ArrayList<>();
        try (EntityIndex entities = new EntityIndex(tx)) {
            for (SidecarApi.Prediction p : answer.results().get(0).predictions()) {
                Node found = entities.node(p.key());
                if (found != null) {
                    rows.add(new NodeScore(found, p.score()));
                }
            }
        }
        return rows.stream();
    }
}
