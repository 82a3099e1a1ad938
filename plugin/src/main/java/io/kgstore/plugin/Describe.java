package io.kgstore.plugin;

import java.util.List;
import java.util.Map;
import java.util.Set;
import org.neo4j.graphdb.Node;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.TerminationGuard;
import org.neo4j.procedure.UserFunction;

/** {@code kgstore.describe(node, config)}: a short generated description of one entity, from the sidecar. */
public class Describe {

    static final String NAME = "kgstore.describe";
    private static final Set<String> KEYS = Set.of("maxTokens", "temperature", "seed", "beams");
    static final double DEFAULT_TEMPERATURE = 0.0;
    static final long DEFAULT_SEED = 0;
    static final long DEFAULT_BEAMS = 1;

    @Context
    public GraphDatabaseAPI db;

    @Context
    public TerminationGuard guard;

    @UserFunction(name = NAME)
    @Description("kgstore.describe(node, config = {}) - a short description of an entity generated from its "
            + "learned vector and its facts by the kgstore sidecar's text generator (POST /generate/text), asked "
            + "by the node's `key` property. config: maxTokens (default: the generator's description budget, "
            + "chosen at training from its training descriptions), temperature (default 0.0: greedy), "
            + "seed (default 0; null: unseeded, a different text each call), beams (default 1; more: beam "
            + "search, the likeliest whole text at about one decode per beam; the sidecar caps it at 8). "
            + "A null node gives null. "
            + "One HTTP call per invocation; it waits up to kgstore.sidecar.generate_timeout_ms (default 120000).")
    public String describe(
            @Name("node") Node node,
            @Name(value = "config", defaultValue = "{}") Map<String, Object> config) {
        // The config is checked even for a null node, so a mistake in it shows on the first row, not only on some.
        Options options = new Options(NAME, config, KEYS);
        Long maxTokens = options.positiveOrNull("maxTokens");  // null: the sidecar uses the generator's budget
        double temperature = options.nonNegative("temperature", DEFAULT_TEMPERATURE);
        Long seed = options.integerOrNull("seed", DEFAULT_SEED);
        long beams = options.positive("beams", DEFAULT_BEAMS);
        if (node == null) {
            return null;
        }
        String key = Entities.keyOf(NAME, "node", node);
        SidecarApi api = new SidecarApi(new SidecarClient(KgstoreConf.current(db), guard));
        return api.generateText(List.of(key), maxTokens, temperature, seed, beams).texts().get(0);
    }
}
