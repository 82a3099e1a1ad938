package io.kgstore.plugin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * A real HTTP server in the test JVM that stands in for the Python decoder sidecar ({@code kgstore serve}),
 * answering per the sidecar HTTP contract v1 ({@code /health}, {@code /score}, {@code /predict},
 * {@code /generate/text}) with canned, test-controlled answers. The real sidecar is exercised end to end by the
 * Python integration tests; this one lets the plugin's tests control every answer, error and delay.
 *
 * <p>Behaviour: {@code /predict} answers each query from {@link #predictions}, applies {@code min_score} and
 * {@code k}, and treats a query without canned answers as an unknown entity (404 with on_unknown "error",
 * {@code "unknown": true} with "skip"). {@code k} outside 1..{@value #MAX_K} gets FastAPI's 422 list.
 * {@code /generate/text} answers each entity from {@link #text}; an entity without a canned text is unknown
 * (404), {@code max_tokens} over {@value #MAX_TOKENS} is a 422 with a string detail, and no
 * {@link #generator} (null) is a 503.
 * {@link #token} makes every endpoint but /health demand the bearer token. {@link #override} replaces the
 * answer (e.g. a 500, or a delay beyond the plugin's read timeout). Every request is recorded.
 */
final class StandInSidecar implements AutoCloseable {

    static final int MAX_K = 1000;
    static final int MAX_TOKENS = 256;
    static final String GENERATOR = "demo-textgen-20260101T000000Z";
    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** A recorded request. */
    record Request(String method, String path, String authorization, JsonNode body) {}

    /** A canned reply: status, JSON body, and how long to sleep before answering. */
    record Reply(int status, String body, long delayMs) {
        static Reply error(int status, String detail) {
            return new Reply(status, MAPPER.createObjectNode().put("detail", detail).toString(), 0);
        }
    }

    private final HttpServer server;
    private final ExecutorService executor = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "stand-in-sidecar");
        t.setDaemon(true);
        return t;
    });
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private final Map<String, List<Map.Entry<String, Double>>> predictions = new HashMap<>();
    private final Map<String, Double> scores = new HashMap<>();
    private final Map<String, String> texts = new HashMap<>();
    private volatile String generator = GENERATOR;
    private volatile String token;
    private volatile String model = "demo";
    private volatile String version = "20260101T000000Z";
    private volatile Function<Request, Reply> override;

    StandInSidecar() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(executor);
        server.createContext("/", this::handle);
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** Forgets canned answers, token, override and recorded requests. */
    synchronized void reset() {
        requests.clear();
        predictions.clear();
        scores.clear();
        texts.clear();
        generator = GENERATOR;
        token = null;
        override = null;
        model = "demo";
        version = "20260101T000000Z";
    }

    void token(String token) {
        this.token = token;
    }

    void model(String model, String version) {
        this.model = model;
        this.version = version;
    }

    /** Canned answers for one query, as alternating key, score: {@code "ex:b", 2.0, "ex:c", 1.0}. */
    synchronized void predictions(String entity, String relation, String direction, Object... keyScores) {
        List<Map.Entry<String, Double>> list = new ArrayList<>();
        for (int i = 0; i < keyScores.length; i += 2) {
            list.add(Map.entry((String) keyScores[i], ((Number) keyScores[i + 1]).doubleValue()));
        }
        predictions.put(entity + "|" + relation + "|" + direction, list);
    }

    synchronized void score(String head, String relation, String tail, double score) {
        scores.put(head + "|" + relation + "|" + tail, score);
    }

    /** The canned {@code /generate/text} answer for one entity key. */
    synchronized void text(String entity, String text) {
        texts.put(entity, text);
    }

    /** The text generator's checkpoint name; null: the model has none (503). */
    void generator(String generator) {
        this.generator = generator;
    }

    /** Replaces the normal answer whenever {@code override} returns non-null. */
    void override(Function<Request, Reply> override) {
        this.override = override;
    }

    List<Request> requests() {
        return List.copyOf(requests);
    }

    List<Request> requests(String path) {
        return requests.stream().filter(r -> r.path().equals(path)).toList();
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void handle(HttpExchange exchange) throws IOException {
        try {
            String raw = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            JsonNode body = raw.isEmpty() ? null : MAPPER.readTree(raw);
            Request request = new Request(exchange.getRequestMethod(), exchange.getRequestURI().getPath(),
                    exchange.getRequestHeaders().getFirst("Authorization"), body);
            requests.add(request);
            Reply reply = answer(request);
            if (reply.delayMs() > 0) {
                try {
                    Thread.sleep(reply.delayMs());
                } catch (InterruptedException e) {
                    return; // closing
                }
            }
            byte[] bytes = reply.body().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(reply.status(), bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            } catch (IOException clientGone) {
                // the plugin gave up waiting (timeout test)
            }
        } finally {
            exchange.close();
        }
    }

    private Reply answer(Request request) {
        Function<Request, Reply> custom = override;
        Reply special = custom == null ? null : custom.apply(request);
        if (special != null) {
            return special;
        }
        String expected = token;
        if (expected != null && !request.path().equals("/health")
                && !("Bearer " + expected).equals(request.authorization())) {
            return Reply.error(401, "missing or invalid bearer token");
        }
        switch (request.path()) {
            case "/health":
                return ok(MAPPER.createObjectNode().put("status", "ok").put("model", model).put("version", version));
            case "/predict":
                return predict(request.body());
            case "/score":
                return score(request.body());
            case "/generate/text":
                return generateText(request.body());
            default:
                return Reply.error(404, "Not Found");
        }
    }

    private synchronized Reply predict(JsonNode body) {
        long k = body.path("k").asLong(10);
        if (k < 1 || k > MAX_K) {
            ArrayNode detail = MAPPER.createArrayNode();
            ObjectNode entry = detail.addObject();
            entry.putArray("loc").add("body").add("k");
            entry.put("msg", k < 1 ? "Input should be greater than or equal to 1"
                    : "Input should be less than or equal to " + MAX_K);
            entry.put("type", k < 1 ? "greater_than_equal" : "less_than_equal");
            return new Reply(422, MAPPER.createObjectNode().set("detail", detail).toString(), 0);
        }
        JsonNode minScore = body.path("min_score");
        boolean skip = "skip".equals(body.path("on_unknown").asText("error"));
        ObjectNode answer = MAPPER.createObjectNode().put("model", model).put("version", version);
        ArrayNode results = answer.putArray("results");
        for (JsonNode q : body.path("queries")) {
            String entity = q.path("entity").asText();
            String relation = q.path("relation").asText();
            String direction = q.path("direction").asText("out");
            List<Map.Entry<String, Double>> canned = predictions.get(entity + "|" + relation + "|" + direction);
            if (canned == null && !skip) {
                return Reply.error(404, "unknown entity '" + entity + "'");
            }
            ObjectNode result = results.addObject().put("entity", entity).put("relation", relation)
                    .put("direction", direction).put("unknown", canned == null);
            ArrayNode out = result.putArray("predictions");
            if (canned != null) {
                canned.stream()
                        .filter(e -> minScore.isNull() || minScore.isMissingNode() || e.getValue() >= minScore.asDouble())
                        .limit(k)
                        .forEach(e -> out.addObject().put("key", e.getKey()).put("score", e.getValue()));
            }
        }
        return ok(answer);
    }

    private synchronized Reply score(JsonNode body) {
        ObjectNode answer = MAPPER.createObjectNode().put("model", model).put("version", version);
        ArrayNode out = answer.putArray("scores");
        for (JsonNode t : body.path("triples")) {
            String head = t.path("head").asText();
            String tail = t.path("tail").asText();
            Double score = scores.get(head + "|" + t.path("relation").asText() + "|" + tail);
            if (score == null) {
                return Reply.error(404, "unknown entity '" + head + "'");
            }
            out.add(score);
        }
        return ok(answer);
    }

    private synchronized Reply generateText(JsonNode body) {
        String name = generator;
        if (name == null) {
            return Reply.error(503, "no text generator is trained for model '" + model
                    + "': train one with kgstore before asking for texts");
        }
        JsonNode asked = body.path("max_tokens");
        long maxTokens = asked.isNull() || asked.isMissingNode() ? 48 : asked.asLong();  // null: its own budget
        if (maxTokens < 1 || maxTokens > MAX_TOKENS) {
            return Reply.error(422, "max_tokens " + maxTokens + " is over the sidecar's cap of " + MAX_TOKENS);
        }
        ObjectNode answer = MAPPER.createObjectNode().put("model", model).put("version", version).put("generator", name);
        ArrayNode out = answer.putArray("texts");
        for (JsonNode e : body.path("entities")) {
            String text = texts.get(e.asText());
            if (text == null) {
                return Reply.error(404, "unknown entity '" + e.asText() + "' (model '" + model + "')");
            }
            out.add(text);
        }
        return ok(answer);
    }

    private static Reply ok(JsonNode body) {
        return new Reply(200, body.toString(), 0);
    }
}
