package io.kgstore.plugin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.driver.AuthTokens;
import org.neo4j.driver.Driver;
import org.neo4j.driver.GraphDatabase;
import org.neo4j.driver.Record;
import org.neo4j.driver.Session;
import org.neo4j.driver.exceptions.Neo4jException;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilders;

/**
 * kgstore.predict / kgstore.complete / kgstore.score / kgstore.describe against an in-process Neo4j and a {@link StandInSidecar}.
 * The plugin finds its kgstore.conf through the test hook {@link KgstoreConf#useFile}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SidecarProceduresTest {

    private Neo4j neo4j;
    private Driver driver;
    private StandInSidecar sidecar;
    private Path conf;
    /** The kgstore.conf the tests rewrite; JUnit deletes the folder after the class. */
    @TempDir
    static Path confDir;
    private Instant lastWrite = Instant.now();

    @BeforeAll
    void start() throws IOException {
        sidecar = new StandInSidecar();
        conf = confDir.resolve("kgstore.conf");
        KgstoreConf.useFile(conf);
        neo4j = Neo4jBuilders.newInProcessBuilder()
                .withDisabledServer()
                .withConfig(GraphDatabaseSettings.procedure_unrestricted, List.of("kgstore.*"))
                .withProcedure(Predict.class)
                .withProcedure(Complete.class)
                .withFunction(Score.class)
                .withFunction(Describe.class)
                .build();
        driver = GraphDatabase.driver(neo4j.boltURI(), AuthTokens.none());
    }

    @AfterAll
    void stop() {
        KgstoreConf.useFile(null);
        if (driver != null) {
            driver.close();
        }
        if (neo4j != null) {
            neo4j.close();
        }
        if (sidecar != null) {
            sidecar.close();
        }
    }

    @BeforeEach
    void reset() throws IOException {
        sidecar.reset();
        writeConf("kgstore.sidecar.url=" + sidecar.url());
        run("MATCH (n) DETACH DELETE n");
        run("CREATE (a:Entity {key: 'ex:a'}), (b:Entity {key: 'ex:b'}), (c:Entity {key: 'ex:c'}),"
                + " (d:Entity {key: 'ex:d'}), (e:Entity {key: 'ex:e'}), (:Thing {name: 'no key'}),"
                + " (a)-[:treats]->(b), (c)-[:treats]->(d), (b)-[:`odd``rel /x`]->(e)");
    }

    @Test
    void signaturesModesAndDescriptions() {
        Map<String, String> signatures = new java.util.HashMap<>();
        for (Record r : run("SHOW PROCEDURES YIELD name, signature, mode, description WHERE name STARTS WITH 'kgstore.' "
                + "RETURN name, signature, mode, description")) {
            assertThat(r.get("description").asString()).isNotBlank();
            signatures.put(r.get("name").asString(), r.get("signature").asString() + " " + r.get("mode").asString());
        }
        for (Record r : run("SHOW FUNCTIONS YIELD name, signature, description WHERE name STARTS WITH 'kgstore.' "
                + "RETURN name, signature, description")) {
            assertThat(r.get("description").asString()).isNotBlank();
            signatures.put(r.get("name").asString(), r.get("signature").asString());
        }
        System.out.println("kgstore signatures: " + signatures);
        assertThat(signatures).containsEntry("kgstore.predict",
                        "kgstore.predict(node :: NODE, relation :: STRING, config = {} :: MAP) :: (node :: NODE, score :: FLOAT) READ")
                .containsEntry("kgstore.complete", "kgstore.complete(relation :: STRING, config = {} :: MAP) "
                        + ":: (head :: NODE, tail :: NODE, score :: FLOAT, created :: BOOLEAN) WRITE")
                .containsEntry("kgstore.score", "kgstore.score(head :: NODE, relation :: STRING, tail :: NODE) :: FLOAT")
                .containsEntry("kgstore.describe", "kgstore.describe(node :: NODE, config = {} :: MAP) :: STRING");
    }

    // ---- kgstore.predict --------------------------------------------------------------------------------

    @Test
    void predictYieldsNodesInTheSidecarsOrderAndSkipsKeysNoLongerInTheDatabase() {
        sidecar.predictions("ex:a", "treats", "out", "ex:c", 3.5, "ex:gone", 2.0, "ex:e", 1.25, "ex:d", -0.5);

        List<Record> rows = run("MATCH (a:Entity {key: 'ex:a'}) CALL kgstore.predict(a, 'treats') YIELD node, score "
                + "RETURN node.key AS key, score");

        assertThat(rows).extracting(r -> r.get("key").asString()).containsExactly("ex:c", "ex:e", "ex:d");
        assertThat(rows).extracting(r -> r.get("score").asDouble()).containsExactly(3.5, 1.25, -0.5);
        JsonNode body = single("/predict").body();
        assertThat(body.get("queries")).hasSize(1);
        assertThat(body.at("/queries/0/entity").asText()).isEqualTo("ex:a");
        assertThat(body.at("/queries/0/relation").asText()).isEqualTo("treats");
        assertThat(body.at("/queries/0/direction").asText()).isEqualTo("out");
        assertThat(body.get("k").asLong()).isEqualTo(10);
        assertThat(body.get("filter_known").asBoolean()).isTrue();
        assertThat(body.get("min_score").isNull()).isTrue();
        assertThat(body.get("on_unknown").asText()).isEqualTo("error");
        assertThat(single("/predict").authorization()).isNull();
    }

    @Test
    void predictDirectionInSendsInAndPassesTheConfig() {
        sidecar.predictions("ex:b", "treats", "in", "ex:a", 0.9, "ex:c", 0.7, "ex:d", 0.6);

        List<Record> rows = run("MATCH (b:Entity {key: 'ex:b'}) CALL kgstore.predict(b, 'treats', "
                + "{direction: 'in', k: 2, minScore: 0.65, filterKnown: false}) YIELD node, score "
                + "RETURN node.key AS key, score");

        assertThat(rows).extracting(r -> r.get("key").asString()).containsExactly("ex:a", "ex:c");
        JsonNode body = single("/predict").body();
        assertThat(body.at("/queries/0/direction").asText()).isEqualTo("in");
        assertThat(body.get("k").asLong()).isEqualTo(2);
        assertThat(body.get("min_score").asDouble()).isEqualTo(0.65);
        assertThat(body.get("filter_known").asBoolean()).isFalse();
    }

    @Test
    void predictRejectsBadArgumentsBeforeCallingTheSidecar() {
        String a = "MATCH (a:Entity {key: 'ex:a'}) ";
        assertThat(error("CALL kgstore.predict(null, 'treats')")).contains("kgstore.predict: node is null");
        assertThat(error("MATCH (t:Thing) CALL kgstore.predict(t, 'treats') YIELD node RETURN node"))
                .contains("has no `key` property");
        assertThat(error(a + "CALL kgstore.predict(a, null) YIELD node RETURN node"))
                .contains("relation must be a non-empty string");
        assertThat(error(a + "CALL kgstore.predict(a, '') YIELD node RETURN node"))
                .contains("relation must be a non-empty string");
        assertThat(error(a + "CALL kgstore.predict(a, 'treats', {k: 0}) YIELD node RETURN node"))
                .contains("config k must be at least 1, got 0");
        assertThat(error(a + "CALL kgstore.predict(a, 'treats', {k: -3}) YIELD node RETURN node"))
                .contains("config k must be at least 1, got -3");
        assertThat(error(a + "CALL kgstore.predict(a, 'treats', {direction: 'up'}) YIELD node RETURN node"))
                .contains("config direction must be one of 'in', 'out', got 'up'");
        assertThat(error(a + "CALL kgstore.predict(a, 'treats', {limit: 3}) YIELD node RETURN node"))
                .contains("unknown config key 'limit' (allowed: direction, filterKnown, k, minScore)");
        assertThat(sidecar.requests()).isEmpty();
    }

    @Test
    void sidecarErrorsCarryTheirDetail() {
        String call = "MATCH (a:Entity {key: 'ex:a'}) CALL kgstore.predict(a, 'treats', $config) YIELD node RETURN node";

        // 404: no canned answer = unknown entity for on_unknown "error"
        assertThat(error(call, Map.of("config", Map.of())))
                .contains("kgstore sidecar answered 404: unknown entity 'ex:a'");
        // 422: k over the sidecar's cap, FastAPI's validation list
        assertThat(error(call, Map.of("config", Map.of("k", 5000))))
                .contains("kgstore sidecar answered 422: k: Input should be less than or equal to 1000");
        // 500 and 503
        sidecar.override(r -> StandInSidecar.Reply.error(500, "boom: decoder crashed"));
        assertThat(error(call, Map.of("config", Map.of()))).contains("kgstore sidecar answered 500: boom: decoder crashed");
        sidecar.override(r -> StandInSidecar.Reply.error(503, "no model loaded: run kgstore train"));
        assertThat(error(call, Map.of("config", Map.of())))
                .contains("kgstore sidecar answered 503: no model loaded: run kgstore train");
        // not JSON at all: the URL points at something else
        sidecar.override(r -> new StandInSidecar.Reply(200, "<html>hello</html>", 0));
        assertThat(error(call, Map.of("config", Map.of()))).contains("with a body that is not a JSON object");
    }

    @Test
    void tokenMismatchIs401AndNamesTheTokenSetting() throws IOException {
        sidecar.token("s3cret");
        sidecar.predictions("ex:a", "treats", "out", "ex:c", 1.0);
        String call = "MATCH (a:Entity {key: 'ex:a'}) CALL kgstore.predict(a, 'treats') YIELD node RETURN node.key AS key";

        assertThat(error(call)).contains("answered 401 (missing or invalid bearer token)")
                .contains("no token is configured: set kgstore.sidecar.token in " + conf);

        writeConf("kgstore.sidecar.url=" + sidecar.url(), "kgstore.sidecar.token=wrong");
        assertThat(error(call)).contains("answered 401").contains("the configured token was rejected: check kgstore.sidecar.token in " + conf);

        writeConf("kgstore.sidecar.url=" + sidecar.url(), "kgstore.sidecar.token=s3cret");
        assertThat(run(call)).extracting(r -> r.get("key").asString()).containsExactly("ex:c");
        assertThat(sidecar.requests("/predict").get(2).authorization()).isEqualTo("Bearer s3cret");
    }

    // ---- kgstore.score ------------------------------------------------------------------------------------

    @Test
    void scoreReturnsTheSidecarsScore() {
        sidecar.score("ex:a", "treats", "ex:c", 4.75);

        Record row = run("MATCH (a:Entity {key: 'ex:a'}), (c:Entity {key: 'ex:c'}) "
                + "RETURN kgstore.score(a, 'treats', c) AS s, kgstore.score(a, 'treats', null) AS n").get(0);

        assertThat(row.get("s").asDouble()).isEqualTo(4.75);
        assertThat(row.get("n").isNull()).isTrue();
        JsonNode body = single("/score").body();
        assertThat(body.at("/triples/0/head").asText()).isEqualTo("ex:a");
        assertThat(body.at("/triples/0/relation").asText()).isEqualTo("treats");
        assertThat(body.at("/triples/0/tail").asText()).isEqualTo("ex:c");
        assertThat(error("MATCH (a:Entity {key: 'ex:a'}), (b:Entity {key: 'ex:b'}) RETURN kgstore.score(a, 'treats', b)"))
                .contains("kgstore sidecar answered 404: unknown entity 'ex:a'");
    }

    // ---- kgstore.describe ---------------------------------------------------------------------------------

    @Test
    void describeReturnsTheSidecarsTextForTheNodesKey() {
        sidecar.text("ex:a", "A drug that treats ex:b.");
        sidecar.text("ex:b", "A condition.");

        List<Record> rows = run("MATCH (n:Entity) WHERE n.key IN ['ex:a', 'ex:b'] "
                + "RETURN n.key AS key, kgstore.describe(n) AS text ORDER BY key");

        assertThat(rows).extracting(r -> r.get("key").asString() + ": " + r.get("text").asString())
                .containsExactly("ex:a: A drug that treats ex:b.", "ex:b: A condition.");
        List<StandInSidecar.Request> calls = sidecar.requests("/generate/text");
        assertThat(calls).hasSize(2);  // one call per row
        JsonNode body = calls.stream().filter(c -> c.body().at("/entities/0").asText().equals("ex:a"))
                .findFirst().orElseThrow().body();
        assertThat(body.get("entities")).hasSize(1);
        assertThat(body.get("max_tokens").isNull()).as("no maxTokens: the generator's budget").isTrue();
        assertThat(body.get("temperature").isNumber()).isTrue();
        assertThat(body.get("temperature").asDouble()).isEqualTo(0.0);
        assertThat(body.get("seed").isIntegralNumber()).isTrue();
        assertThat(body.get("seed").asLong()).isZero();
        assertThat(body.get("beams").asLong()).as("greedy unless asked").isEqualTo(1);
        assertThat(body.size()).as("exactly the contract's fields: " + body).isEqualTo(5);
    }

    @Test
    void describeSendsMaxTokensTemperatureAndSeed() {
        sidecar.text("ex:a", "A drug.");

        // the README's example, with this test's key
        Record row = run("MATCH (n:Entity {key: 'ex:a'}) RETURN kgstore.describe(n, {maxTokens: 40, seed: 1}) AS d").get(0);
        assertThat(row.get("d").asString()).isEqualTo("A drug.");
        JsonNode body = single("/generate/text").body();
        assertThat(body.get("max_tokens").asLong()).isEqualTo(40);
        assertThat(body.get("temperature").asDouble()).isEqualTo(0.0);
        assertThat(body.get("seed").asLong()).isEqualTo(1);

        sidecar.reset();
        sidecar.text("ex:a", "A drug.");
        run("MATCH (n:Entity {key: 'ex:a'}) RETURN kgstore.describe(n, {maxTokens: 12, temperature: 0.7, seed: null})");
        body = single("/generate/text").body();
        assertThat(body.get("max_tokens").asLong()).isEqualTo(12);
        assertThat(body.get("temperature").asDouble()).isEqualTo(0.7);
        assertThat(body.get("seed").isNull()).as("an explicit null seed is sent as null: " + body).isTrue();

        sidecar.reset();
        sidecar.text("ex:a", "A drug.");
        run("MATCH (n:Entity {key: 'ex:a'}) RETURN kgstore.describe(n, {beams: 4})");
        assertThat(single("/generate/text").body().get("beams").asLong()).isEqualTo(4);

        sidecar.reset();
        sidecar.text("ex:a", "A drug.");
        run("MATCH (n:Entity {key: 'ex:a'}) RETURN kgstore.describe(n, {temperature: 1})");  // an integer is a number too
        assertThat(single("/generate/text").body().get("temperature").asDouble()).isEqualTo(1.0);
    }

    @Test
    void describeOfNullIsNullAndANodeWithoutKeyFails() {
        Record row = run("OPTIONAL MATCH (n:Entity {key: 'ex:nope'}) RETURN kgstore.describe(n) AS d, "
                + "kgstore.describe(null, {maxTokens: 5}) AS e").get(0);
        assertThat(row.get("d").isNull()).isTrue();
        assertThat(row.get("e").isNull()).isTrue();

        assertThat(error("MATCH (t:Thing) RETURN kgstore.describe(t)"))
                .contains("kgstore.describe: node (node ")
                .contains("labels :Thing) has no `key` property; only (:Entity {key}) nodes are known to the model");
        assertThat(sidecar.requests()).isEmpty();
    }

    @Test
    void describeRefusesBadConfigNamingTheKey() {
        String a = "MATCH (a:Entity {key: 'ex:a'}) RETURN kgstore.describe(a, $config)";
        assertThat(error(a, Map.of("config", Map.of("max_tokens", 5))))
                .contains("kgstore.describe: unknown config key 'max_tokens' (allowed: beams, maxTokens, seed, temperature)");
        assertThat(error(a, Map.of("config", Map.of("beams", 0))))
                .contains("kgstore.describe: config beams must be at least 1, got 0");
        assertThat(error(a, Map.of("config", Map.of("maxTokens", 0))))
                .contains("kgstore.describe: config maxTokens must be at least 1, got 0");
        assertThat(error(a, Map.of("config", Map.of("maxTokens", 2.5))))
                .contains("kgstore.describe: config maxTokens must be an integer, got 2.5");
        assertThat(error(a, Map.of("config", Map.of("temperature", -0.5))))
                .contains("kgstore.describe: config temperature must be a finite number at least 0, got -0.5");
        assertThat(error(a, Map.of("config", Map.of("temperature", "hot"))))
                .contains("kgstore.describe: config temperature must be a number, got 'hot'");
        assertThat(error("MATCH (a:Entity {key: 'ex:a'}) RETURN kgstore.describe(a, {temperature: 1.0 / 0.0})"))
                .contains("kgstore.describe: config temperature must be a finite number at least 0, got Infinity");
        assertThat(error(a, Map.of("config", Map.of("seed", 1.5))))
                .contains("kgstore.describe: config seed must be an integer or null, got 1.5");
        assertThat(error(a, Map.of("config", Map.of("seed", "7"))))
                .contains("kgstore.describe: config seed must be an integer or null, got '7'");
        // checked for a null node too, so a mistake shows whatever the rows are
        assertThat(error("RETURN kgstore.describe(null, {maxTokens: -1})")).contains("config maxTokens must be at least 1");
        assertThat(sidecar.requests()).isEmpty();
    }

    @Test
    void describeSidecarErrorsCarryTheirDetail() {
        String call = "MATCH (a:Entity {key: 'ex:a'}) RETURN kgstore.describe(a, $config)";

        // 404: no canned text = unknown entity
        assertThat(error(call, Map.of("config", Map.of())))
                .contains("kgstore sidecar answered 404: unknown entity 'ex:a' (model 'demo')")
                .contains("(POST " + sidecar.url() + "/generate/text)");
        sidecar.text("ex:a", "A drug.");
        // 422: max_tokens over the sidecar's cap
        assertThat(error(call, Map.of("config", Map.of("maxTokens", 5000))))
                .contains("kgstore sidecar answered 422: max_tokens 5000 is over the sidecar's cap of 256");
        // 503: the model has no text generator
        sidecar.generator(null);
        assertThat(error(call, Map.of("config", Map.of())))
                .contains("kgstore sidecar answered 503: no text generator is trained for model 'demo'");
        // answers of the wrong shape
        sidecar.override(r -> new StandInSidecar.Reply(200, "{\"model\": \"demo\", \"texts\": []}", 0));
        assertThat(error(call, Map.of("config", Map.of())))
                .contains("answered POST /generate/text with an unexpected body (expected 'texts' with one entry "
                        + "per entity (1))");
        sidecar.override(r -> new StandInSidecar.Reply(200, "{\"texts\": [3]}", 0));
        assertThat(error(call, Map.of("config", Map.of()))).contains("a text is not a string: 3");
    }

    @Test
    void describeWithTheSidecarDownSaysSo() throws IOException {
        writeConf("kgstore.sidecar.url=http://127.0.0.1:" + closedPort());

        assertThat(error("MATCH (a:Entity {key: 'ex:a'}) RETURN kgstore.describe(a)"))
                .contains("is not reachable (connection refused): start it with `kgstore serve`, "
                        + "or set kgstore.sidecar.url in " + conf);
        // the same Cypher error as the procedures' (README: Neo.ClientError.Procedure.ProcedureCallFailed)
        assertThatThrownBy(() -> run("MATCH (a:Entity {key: 'ex:a'}) RETURN kgstore.describe(a)"))
                .isInstanceOf(Neo4jException.class)
                .satisfies(t -> assertThat(((Neo4jException) t).code())
                        .isEqualTo("Neo.ClientError.Procedure.ProcedureCallFailed"));
    }

    @Test
    void describeWaitsUpToTheGenerateTimeoutNotTheReadTimeout() throws IOException {
        sidecar.text("ex:a", "A drug.");
        sidecar.override(r -> r.path().equals("/generate/text")
                ? new StandInSidecar.Reply(200, "{\"texts\": [\"slow but fine\"]}", 800) : null);
        writeConf("kgstore.sidecar.url=" + sidecar.url(), "kgstore.sidecar.read_timeout_ms=300",
                "kgstore.sidecar.generate_timeout_ms=5000");

        assertThat(run("MATCH (a:Entity {key: 'ex:a'}) RETURN kgstore.describe(a) AS d").get(0).get("d").asString())
                .isEqualTo("slow but fine");

        writeConf("kgstore.sidecar.url=" + sidecar.url(), "kgstore.sidecar.generate_timeout_ms=500");
        sidecar.override(r -> new StandInSidecar.Reply(200, "{}", 10_000));
        long start = System.nanoTime();
        String message = error("MATCH (a:Entity {key: 'ex:a'}) RETURN kgstore.describe(a)");
        assertThat(message).contains("did not answer within 500 ms (kgstore.sidecar.generate_timeout_ms in " + conf + ")");
        assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(5_000);
    }

    // ---- kgstore.complete -----------------------------------------------------------------------------------

    @Test
    void completeWritesPredictedEdgesWithProvenance() {
        sidecar.model("umls-complex", "20261127T010203Z");
        sidecar.predictions("ex:a", "treats", "out", "ex:e", 2.5);
        sidecar.predictions("ex:c", "treats", "out", "ex:b", 1.5);
        ZonedDateTime before = ZonedDateTime.now().minusSeconds(5);

        List<Record> rows = run("CALL kgstore.complete('treats') YIELD head, tail, score, created "
                + "RETURN head.key AS h, tail.key AS t, score, created");

        assertThat(rows).extracting(r -> r.get("h").asString() + "->" + r.get("t").asString())
                .containsExactly("ex:a->ex:e", "ex:c->ex:b");
        assertThat(rows).extracting(r -> r.get("score").asDouble()).containsExactly(2.5, 1.5);
        assertThat(rows).allMatch(r -> r.get("created").asBoolean());

        Record edge = run("MATCH (:Entity {key: 'ex:a'})-[p:KGSTORE_PREDICTED]->(:Entity {key: 'ex:e'}) RETURN p").get(0);
        Map<String, Object> props = edge.get("p").asMap();
        assertThat(props).containsEntry("relation", "treats").containsEntry("score", 2.5)
                .containsEntry("model", "umls-complex").containsEntry("version", "20261127T010203Z");
        assertThat(edge.get("p").get("created_at").asZonedDateTime()).isAfter(before);
        assertThat(predictedCount()).isEqualTo(2);

        JsonNode body = single("/predict").body();
        assertThat(body.get("queries")).extracting(q -> q.get("entity").asText()).containsExactly("ex:a", "ex:c");
        assertThat(body.get("queries")).allMatch(q -> q.get("direction").asText().equals("out")
                && q.get("relation").asText().equals("treats"));
        assertThat(body.get("k").asLong()).isEqualTo(1);
        assertThat(body.get("filter_known").asBoolean()).isTrue();
        assertThat(body.get("on_unknown").asText()).isEqualTo("skip");
    }

    @Test
    void rerunningUpdatesInsteadOfDuplicating() {
        sidecar.predictions("ex:a", "treats", "out", "ex:e", 2.5);
        run("CALL kgstore.complete('treats')");
        sidecar.model("demo", "20270101T000000Z");
        sidecar.predictions("ex:a", "treats", "out", "ex:e", 3.0);

        List<Record> rows = run("CALL kgstore.complete('treats') YIELD created, score RETURN created, score");

        assertThat(rows).hasSize(1);
        assertThat(rows.get(0).get("created").asBoolean()).isFalse();
        assertThat(predictedCount()).isEqualTo(1);
        Map<String, Object> props = run("MATCH ()-[p:KGSTORE_PREDICTED]->() RETURN p").get(0).get("p").asMap();
        assertThat(props).containsEntry("score", 3.0).containsEntry("version", "20270101T000000Z");
    }

    @Test
    void existingFactsAreSkippedAndUnknownHeadsIgnored() {
        // ex:c has no canned answers: with on_unknown "skip" it is just left out
        sidecar.predictions("ex:a", "treats", "out", "ex:b", 9.0, "ex:d", 1.0);

        List<Record> rows = run("CALL kgstore.complete('treats', {k: 2}) YIELD head, tail "
                + "RETURN head.key AS h, tail.key AS t");

        assertThat(rows).extracting(r -> r.get("h").asString() + "->" + r.get("t").asString())
                .containsExactly("ex:a->ex:d");
        assertThat(run("MATCH (:Entity {key: 'ex:a'})-[p:KGSTORE_PREDICTED]->(:Entity {key: 'ex:b'}) RETURN p"))
                .isEmpty();
    }

    @Test
    void dryRunWritesNothingAndSaysWhatWouldHappen() {
        sidecar.predictions("ex:a", "treats", "out", "ex:e", 2.5);
        sidecar.predictions("ex:c", "treats", "out", "ex:b", 1.5);
        run("CALL kgstore.complete('treats', {limit: 1})"); // a->e exists as a prediction now

        List<Record> rows = run("CALL kgstore.complete('treats', {dryRun: true}) YIELD head, created "
                + "RETURN head.key AS h, created");

        assertThat(rows).extracting(r -> r.get("h").asString() + ":" + r.get("created").asBoolean())
                .containsExactly("ex:a:false", "ex:c:true");
        assertThat(predictedCount()).isEqualTo(1);
    }

    @Test
    void limitMinScoreAndBatchSizeAreApplied() {
        sidecar.predictions("ex:a", "treats", "out", "ex:e", 2.5, "ex:c", 0.9, "ex:d", 0.1);
        sidecar.predictions("ex:c", "treats", "out", "ex:b", 1.5, "ex:a", 0.8);

        List<Record> rows = run("CALL kgstore.complete('treats', {k: 3, minScore: 0.85, limit: 2, batchSize: 1}) "
                + "YIELD tail, score RETURN tail.key AS t, score");

        assertThat(rows).extracting(r -> r.get("t").asString()).containsExactly("ex:e", "ex:b");
        assertThat(predictedCount()).isEqualTo(2);
        List<StandInSidecar.Request> calls = sidecar.requests("/predict");
        assertThat(calls).hasSize(2);
        assertThat(calls).allMatch(c -> c.body().get("queries").size() == 1
                && c.body().get("min_score").asDouble() == 0.85 && c.body().get("k").asLong() == 3);
    }

    @Test
    void relationNamesAreDataNotCypher() {
        sidecar.predictions("ex:b", "odd`rel /x", "out", "ex:d", 1.0);

        List<Record> rows = run("CALL kgstore.complete($r) YIELD tail RETURN tail.key AS t", Map.of("r", "odd`rel /x"));

        assertThat(rows).extracting(r -> r.get("t").asString()).containsExactly("ex:d");
        assertThat(run("MATCH ()-[p:KGSTORE_PREDICTED {relation: 'odd`rel /x'}]->() RETURN p")).hasSize(1);
        assertThat(error("CALL kgstore.complete('no such rel')"))
                .contains("no (:Entity)-[:`no such rel`]->() facts in the database");
        assertThat(error("CALL kgstore.complete('treats', {k: 0})")).contains("config k must be at least 1");
        assertThat(error("CALL kgstore.complete('treats', {direction: 'in'})")).contains("unknown config key 'direction'");
    }

    @Test
    void aSidecarFailureInALaterBatchWritesNothing() {
        sidecar.predictions("ex:a", "treats", "out", "ex:e", 2.5);
        sidecar.predictions("ex:c", "treats", "out", "ex:b", 1.5);
        AtomicInteger calls = new AtomicInteger();
        sidecar.override(r -> calls.incrementAndGet() == 2 ? StandInSidecar.Reply.error(500, "second batch failed") : null);

        assertThat(error("CALL kgstore.complete('treats', {batchSize: 1})")).contains("second batch failed");
        assertThat(predictedCount()).isZero();
    }

    // ---- sidecar down, slow, and the config file -------------------------------------------------------------------

    @Test
    void sidecarDownGivesACleanErrorAndNoEdges() throws IOException {
        writeConf("kgstore.sidecar.url=http://127.0.0.1:" + closedPort());

        String message = error("CALL kgstore.complete('treats')");

        assertThat(message).contains("is not reachable (connection refused): start it with `kgstore serve`, "
                + "or set kgstore.sidecar.url in " + conf);
        assertThat(predictedCount()).isZero();
    }

    @Test
    void slowSidecarTimesOutWithinBoundedTimeAndWritesNothing() throws IOException {
        writeConf("kgstore.sidecar.url=" + sidecar.url(), "kgstore.sidecar.read_timeout_ms=500");
        sidecar.predictions("ex:a", "treats", "out", "ex:e", 2.5);
        sidecar.override(r -> new StandInSidecar.Reply(200, "{}", 10_000));

        long start = System.nanoTime();
        String message = error("CALL kgstore.complete('treats')");
        long tookMs = (System.nanoTime() - start) / 1_000_000;

        assertThat(message).contains("did not answer within 500 ms (kgstore.sidecar.read_timeout_ms in " + conf + ")");
        assertThat(tookMs).isLessThan(5_000);
        assertThat(predictedCount()).isZero();
    }

    @Test
    void terminatingTheTransactionEndsAWaitingCallAtOnceAndWritesNothing() throws Exception {
        sidecar.predictions("ex:a", "treats", "out", "ex:e", 2.5);
        sidecar.override(r -> new StandInSidecar.Reply(200, "{}", 20_000));  // far below the 30 s read timeout
        CompletableFuture<String> call = CompletableFuture.supplyAsync(() -> error("CALL kgstore.complete('treats')"));

        String id = null;
        for (int i = 0; i < 100 && id == null; i++) {
            List<Record> running = run("SHOW TRANSACTIONS YIELD transactionId, currentQuery "
                    + "WHERE currentQuery STARTS WITH 'CALL kgstore.complete' RETURN transactionId");
            id = running.isEmpty() ? null : running.get(0).get("transactionId").asString();
            Thread.sleep(50);
        }
        assertThat(id).as("the kgstore.complete transaction shows up").isNotNull();
        Thread.sleep(300);  // let the procedure reach the sidecar call
        long start = System.nanoTime();
        run("TERMINATE TRANSACTION $id", Map.of("id", id));

        String message = call.get(10, TimeUnit.SECONDS);
        assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(5_000);
        assertThat(message).containsIgnoringCase("terminated");
        assertThat(sidecar.requests()).isNotEmpty();
        assertThat(predictedCount()).isZero();
    }

    @Test
    void configFileIsReadThroughTheOverrideAndReReadWhenItChanges() throws IOException {
        sidecar.predictions("ex:a", "treats", "out", "ex:c", 1.0);
        String call = "MATCH (a:Entity {key: 'ex:a'}) CALL kgstore.predict(a, 'treats') YIELD node RETURN node.key AS key";
        writeConf("# Written by kgstore; edit with care", "kgstore.sidecar.url=http://127.0.0.1:" + closedPort());
        assertThat(error(call)).contains("not reachable");

        writeConf("# Written by kgstore; edit with care", "kgstore.sidecar.url=" + sidecar.url());

        assertThat(run(call)).extracting(r -> r.get("key").asString()).containsExactly("ex:c");
    }

    @Test
    void readmeRecipesForPredictionsWork() {
        sidecar.predictions("ex:a", "treats", "out", "ex:e", 2.5);
        sidecar.predictions("ex:c", "treats", "out", "ex:b", 1.5);
        run("CALL kgstore.complete('treats')");

        // accept a->e with a static type, c->b with the dynamic type the prediction names
        run("MATCH (h:Entity {key: $head})-[p:KGSTORE_PREDICTED {relation: 'treats'}]->(t:Entity {key: $tail}) "
                + "MERGE (h)-[:treats]->(t) DELETE p", Map.of("head", "ex:a", "tail", "ex:e"));
        run("MATCH (h:Entity {key: $head})-[p:KGSTORE_PREDICTED]->(t:Entity {key: $tail}) "
                + "MERGE (h)-[:$(p.relation)]->(t) DELETE p", Map.of("head", "ex:c", "tail", "ex:b"));

        assertThat(run("MATCH (:Entity {key: 'ex:a'})-[:treats]->(:Entity {key: 'ex:e'}) RETURN 1")).hasSize(1);
        assertThat(run("MATCH (:Entity {key: 'ex:c'})-[:treats]->(:Entity {key: 'ex:b'}) RETURN 1")).hasSize(1);
        assertThat(predictedCount()).isZero();

        // accepted facts are not predicted again; then remove all predictions
        sidecar.predictions("ex:a", "treats", "out", "ex:e", 2.5, "ex:d", 0.5);
        assertThat(run("CALL kgstore.complete('treats', {k: 2}) YIELD tail RETURN tail.key AS t"))
                .extracting(r -> r.get("t").asString()).containsExactly("ex:d");
        run("MATCH ()-[p:KGSTORE_PREDICTED]->() DELETE p");
        assertThat(predictedCount()).isZero();
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    private void writeConf(String... lines) throws IOException {
        Files.writeString(conf, String.join("\n", lines) + "\n");
        // Make every rewrite visible even on file systems with coarse modification times.
        Instant now = Instant.now();
        lastWrite = now.isAfter(lastWrite.plusSeconds(1)) ? now : lastWrite.plusSeconds(1);
        Files.setLastModifiedTime(conf, FileTime.from(lastWrite));
    }

    private static int closedPort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private StandInSidecar.Request single(String path) {
        assertThat(sidecar.requests(path)).hasSize(1);
        return sidecar.requests(path).get(0);
    }

    private long predictedCount() {
        return run("MATCH ()-[p:KGSTORE_PREDICTED]->() RETURN count(p) AS n").get(0).get("n").asLong();
    }

    private List<Record> run(String cypher) {
        return run(cypher, Map.of());
    }

    private List<Record> run(String cypher, Map<String, Object> params) {
        try (Session session = driver.session()) {
            return session.executeWrite(tx -> tx.run(cypher, params).list());
        }
    }

    private String error(String cypher) {
        return error(cypher, Map.of());
    }

    private String error(String cypher, Map<String, Object> params) {
        Throwable[] thrown = new Throwable[1];
        assertThatThrownBy(() -> {
            try (Session session = driver.session()) {
                session.run(cypher, params).list();
            }
        }).isInstanceOf(Neo4jException.class).satisfies(t -> thrown[0] = t);
        return thrown[0].getMessage();
    }
}
