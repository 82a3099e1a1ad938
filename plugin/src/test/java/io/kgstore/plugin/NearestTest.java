package io.kgstore.plugin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.neo4j.driver.AuthTokens;
import org.neo4j.driver.Driver;
import org.neo4j.driver.GraphDatabase;
import org.neo4j.driver.Record;
import org.neo4j.driver.Session;
import org.neo4j.driver.exceptions.Neo4jException;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilders;

/** kgstore.nearest over a real vector index (no sidecar involved). */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class NearestTest {

    private static final int ENTITIES = 40;
    private static final int DIM = 8;

    private Neo4j neo4j;
    private Driver driver;
    private final List<double[]> vectors = new ArrayList<>();

    @BeforeAll
    void start() {
        neo4j = Neo4jBuilders.newInProcessBuilder()
                .withDisabledServer()
                .withProcedure(Nearest.class)
                .build();
        driver = GraphDatabase.driver(neo4j.boltURI(), AuthTokens.none());

        Random random = new Random(42);
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int i = 0; i < ENTITIES; i++) {
            double[] v = new double[DIM];
            List<Double> list = new ArrayList<>();
            for (int d = 0; d < DIM; d++) {
                v[d] = random.nextGaussian();
                list.add(v[d]);
            }
            vectors.add(v);
            rows.add(Map.of("key", "ex:" + i, "vector", list));
        }
        run("CREATE VECTOR INDEX entity_emb_demo FOR (n:Entity) ON n.emb_demo "
                + "OPTIONS {indexConfig: {`vector.dimensions`: " + DIM + ", `vector.similarity_function`: 'cosine', `vector.quantization.enabled`: false}}");
        run("UNWIND $rows AS row CREATE (e:Entity {key: row.key}) "
                + "WITH e, row CALL db.create.setNodeVectorProperty(e, 'emb_demo', row.vector)", Map.of("rows", rows));
        run("CREATE (:Entity {key: 'ex:novector'}), "
                + "(:KgModel {id: 'demo', index: 'entity_emb_demo', property: 'emb_demo', written_at: datetime('2026-02-01T00:00:00Z')}), "
                + "(:KgModel {id: 'old', index: 'entity_emb_old', property: 'emb_old', written_at: datetime('2025-01-01T00:00:00Z')}), "
                + "(:KgModel {id: 'undated', index: 'whatever', property: 'emb_x'})");
        run("CALL db.awaitIndexes(60)");
        assertThat(run("SHOW VECTOR INDEXES YIELD name, state WHERE name = 'entity_emb_demo' RETURN state")
                .get(0).get("state").asString()).isEqualTo("ONLINE");
    }

    @AfterAll
    void stop() {
        if (driver != null) {
            driver.close();
        }
        if (neo4j != null) {
            neo4j.close();
        }
    }

    @Test
    void searchClauseFromNeo4j202601() {
        assertThat(Nearest.hasSearchClause("5.26.30")).isFalse();
        assertThat(Nearest.hasSearchClause("2025.12.1")).isFalse();
        assertThat(Nearest.hasSearchClause("2026.01.3")).isTrue();
        assertThat(Nearest.hasSearchClause("2026.08.1")).isTrue();
        assertThat(Nearest.hasSearchClause("2027.01.0")).isTrue();
        assertThat(Nearest.hasSearchClause("?")).isFalse();
    }

    @Test
    void returnsTheTrueNearestNeighboursOfTheLatestModel() {
        int k = 5;
        List<Record> rows = run("MATCH (e:Entity {key: 'ex:0'}) CALL kgstore.nearest(e, $k) YIELD node, score "
                + "RETURN node.key AS key, score", Map.of("k", k));

        // Same set as a brute-force search; the index stores float32, so near-ties may swap places.
        assertThat(rows).extracting(r -> r.get("key").asString()).containsExactlyInAnyOrderElementsOf(bruteForce(0, k));
        assertThat(rows).extracting(r -> r.get("score").asDouble()).isSortedAccordingTo(Comparator.reverseOrder());
        for (Record row : rows) {
            int j = Integer.parseInt(row.get("key").asString().substring(3));
            // Neo4j's cosine score is (1 + cos) / 2.
            assertThat(row.get("score").asDouble()).isCloseTo((1 + cosine(vectors.get(0), vectors.get(j))) / 2, within(1e-4));
        }
    }

    @Test
    void signature() {
        Record r = run("SHOW PROCEDURES YIELD name, signature, mode WHERE name = 'kgstore.nearest' RETURN signature, mode").get(0);
        System.out.println("kgstore.nearest signature: " + r.get("signature").asString());
        assertThat(r.get("signature").asString())
                .isEqualTo("kgstore.nearest(node :: NODE, k :: INTEGER, model = null :: STRING) :: (node :: NODE, score :: FLOAT)");
        assertThat(r.get("mode").asString()).isEqualTo("READ");
    }

    @Test
    void explicitNullModelMeansTheLatest() {
        List<Record> rows = run("MATCH (e:Entity {key: 'ex:3'}) CALL kgstore.nearest(e, 2, null) YIELD node "
                + "RETURN node.key AS key");

        assertThat(rows).extracting(r -> r.get("key").asString()).containsExactlyInAnyOrderElementsOf(bruteForce(3, 2));
    }

    @Test
    void namedModelIsUsed() {
        List<Record> rows = run("MATCH (e:Entity {key: 'ex:7'}) CALL kgstore.nearest(e, 3, 'demo') YIELD node "
                + "RETURN node.key AS key");

        assertThat(rows).extracting(r -> r.get("key").asString()).containsExactlyInAnyOrderElementsOf(bruteForce(7, 3));
    }

    @Test
    void clearErrors() {
        String e0 = "MATCH (e:Entity {key: 'ex:0'}) ";
        assertThat(error(e0 + "CALL kgstore.nearest(e, 0) YIELD node RETURN node")).contains("k must be at least 1, got 0");
        assertThat(error("CALL kgstore.nearest(null, 3) YIELD node RETURN node")).contains("kgstore.nearest: node is null");
        assertThat(error("MATCH (e:Entity {key: 'ex:novector'}) CALL kgstore.nearest(e, 3) YIELD node RETURN node"))
                .contains("has no `emb_demo` property, so it has no vector in model 'demo'");
        assertThat(error(e0 + "CALL kgstore.nearest(e, 3, 'nope') YIELD node RETURN node"))
                .contains("no (:KgModel {id: 'nope'})").contains("demo").contains("old");
        assertThat(error(e0 + "CALL kgstore.nearest(e, 3, 'old') YIELD node RETURN node"))
                .contains("has no `emb_old` property");
    }

    /** Keys of the k nodes with the highest cosine similarity to node i, excluding i. */
    private List<String> bruteForce(int i, int k) {
        List<Integer> others = new ArrayList<>();
        for (int j = 0; j < ENTITIES; j++) {
            if (j != i) {
                others.add(j);
            }
        }
        others.sort(Comparator.comparingDouble((Integer j) -> cosine(vectors.get(i), vectors.get(j))).reversed());
        return others.subList(0, k).stream().map(j -> "ex:" + j).toList();
    }

    private static double cosine(double[] a, double[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int d = 0; d < a.length; d++) {
            dot += a[d] * b[d];
            na += a[d] * a[d];
            nb += b[d] * b[d];
        }
        return dot / Math.sqrt(na * nb);
    }

    private List<Record> run(String cypher) {
        return run(cypher, Map.of());
    }

    private List<Record> run(String cypher, Map<String, Object> params) {
        try (Session session = driver.session()) {
            return session.run(cypher, params).list();
        }
    }

    private String error(String cypher) {
        Throwable[] thrown = new Throwable[1];
        assertThatThrownBy(() -> run(cypher)).isInstanceOf(Neo4jException.class).satisfies(t -> thrown[0] = t);
        return thrown[0].getMessage();
    }
}
