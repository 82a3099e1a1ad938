package io.kgstore.plugin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/**
 * The sidecar's endpoints as Java calls (contract v1: {@code POST /score}, {@code POST /predict},
 * {@code POST /generate/text}, {@code POST /generate/image}): builds the request bodies and checks the shape
 * of the answers.
 */
final class SidecarApi {

    /** One {@code /predict} query; direction is "out" (entity is the head) or "in" (entity is the tail). */
    record Query(String entity, String relation, String direction) {}

    record Prediction(String key, double score) {}

    /** The answer to one query, in the sidecar's order (score descending); empty for a skipped unknown entity. */
    record Result(List<Prediction> predictions) {}

    record PredictAnswer(String model, String version, List<Result> results) {}

    /** A {@code /generate/text} answer: one text per entity, in request order, and who wrote them. */
    record TextAnswer(String model, String version, String generator, List<String> texts) {}

    /** One image of a {@code /generate/image} answer; {@code uri} is null unless it was stored. */
    record Image(String key, String png, String sha256, String mime, long width, long height, String uri) {}

    /** A {@code /generate/image} answer: one image per entity, in request order, and who drew them. */
    record ImageAnswer(String model, String version, String generator, List<Image> images) {}

    private final SidecarClient client;

    SidecarApi(SidecarClient client) {
        this.client = client;
    }

    /** {@code POST /predict}; {@code minScore} null means no threshold, {@code onUnknown} is "error" or "skip". */
    PredictAnswer predict(List<Query> queries, long k, boolean filterKnown, Double minScore, String onUnknown) {
        ObjectNode body = Json.object();
        ArrayNode list = body.putArray("queries");
        for (Query q : queries) {
            list.addObject().put("entity", q.entity()).put("relation", q.relation()).put("direction", q.direction());
        }
        body.put("k", k);
        body.put("filter_known", filterKnown);
        if (minScore == null) {
            body.putNull("min_score");
        } else {
            body.put("min_score", minScore);
        }
        body.put("on_unknown", onUnknown);

        JsonNode answer = client.post("/predict", body);
        JsonNode results = answer.get("results");
        if (results == null || !results.isArray() || results.size() != queries.size()) {
            throw unexpected("/predict", "expected 'results' with one entry per query (" + queries.size() + ")");
        }
        List<Result> parsed = new ArrayList<>(results.size());
        for (JsonNode result : results) {
            JsonNode predictions = result.get("predictions");
            boolean unknown = result.path("unknown").asBoolean(false);
            List<Prediction> answers = new ArrayList<>();
            if (predictions != null && !predictions.isNull()) {
                if (!predictions.isArray()) {
                    throw unexpected("/predict", "'predictions' is not a list");
                }
                for (JsonNode p : predictions) {
                    JsonNode key = p.get("key");
                    JsonNode score = p.get("score");
                    if (key == null || !key.isTextual() || score == null || !score.isNumber()) {
                        throw unexpected("/predict", "a prediction lacks a string 'key' or a numeric 'score': " + p);
                    }
                    answers.add(new Prediction(key.asText(), score.asDouble()));
                }
            } else if (!unknown) {
                throw unexpected("/predict", "a result has no 'predictions'");
            }
            parsed.add(new Result(answers));
        }
        return new PredictAnswer(text(answer, "model"), text(answer, "version"), parsed);
    }

    /** {@code POST /score} for one triple of entity keys. */
    double score(String head, String relation, String tail) {
        ObjectNode body = Json.object();
        body.putArray("triples").addObject().put("head", head).put("relation", relation).put("tail", tail);
        JsonNode scores = client.post("/score", body).get("scores");
        if (scores == null || !scores.isArray() || scores.size() != 1 || !scores.get(0).isNumber()) {
            throw unexpected("/score", "expected 'scores' with one number");
        }
        return scores.get(0).asDouble();
    }

    /**
     * {@code POST /generate/text}: a short text for each entity key, from the model's text generator.
     * {@code maxTokens} null leaves the length to the generator's description budget;
     * {@code seed} null asks for an unseeded (different each time) sample; temperature 0 is greedy.
     * Waits up to {@link SidecarConfig#GENERATE_TIMEOUT}, as generation can take seconds on a CPU.
     */
    TextAnswer generateText(List<String> entities, Long maxTokens, double temperature, Long seed, long beams) {
        ObjectNode body = Json.object();
        ArrayNode list = body.putArray("entities");
        entities.forEach(list::add);
        if (maxTokens == null) {
            body.putNull("max_tokens");  // the sidecar then writes up to the generator's description budget
        } else {
            body.put("max_tokens", maxTokens);
        }
        body.put("temperature", temperature);
        if (seed == null) {
            body.putNull("seed");
        } else {
            body.put("seed", seed);
        }
        body.put("beams", beams);

        String path = "/generate/text";
        JsonNode answer = client.post(path, body, client.config().generateTimeout());
        JsonNode texts = answer.get("texts");
        if (texts == null || !texts.isArray() || texts.size() != entities.size()) {
            throw unexpected(path, "expected 'texts' with one entry per entity (" + entities.size() + ")");
        }
        List<String> parsed = new ArrayList<>(texts.size());
        for (JsonNode t : texts) {
            if (!t.isTextual()) {
                throw unexpected(path, "a text is not a string: " + t);
            }
            parsed.add(t.asText());
        }
        return new TextAnswer(text(answer, "model"), text(answer, "version"), text(answer, "generator"), parsed);
    }

    /**
     * {@code POST /generate/image}: a PNG per entity key from the model's image generator; {@code steps} and
     * {@code guidance} null take the generator's defaults. With {@code store} the sidecar also puts each PNG in
     * the kgstore home's content-addressed image store and answers its file URI.
     */
    ImageAnswer generateImage(List<String> entities, long seed, Long steps, Double guidance, boolean store) {
        ObjectNode body = Json.object();
        ArrayNode list = body.putArray("entities");
        entities.forEach(list::add);
        body.put("seed", seed);
        if (steps == null) {
            body.putNull("steps");
        } else {
            body.put("steps", steps);
        }
        if (guidance == null) {
            body.putNull("guidance");
        } else {
            body.put("guidance", guidance);
        }
        body.put("store", store);

        String path = "/generate/image";
        JsonNode answer = client.post(path, body, client.config().generateTimeout());
        JsonNode images = answer.get("images");
        if (images == null || !images.isArray() || images.size() != entities.size()) {
            throw unexpected(path, "expected 'images' with one entry per entity (" + entities.size() + ")");
        }
        List<Image> parsed = new ArrayList<>(images.size());
        for (JsonNode image : images) {
            JsonNode png = image.get("png");
            JsonNode sha = image.get("sha256");
            if (png == null || !png.isTextual() || sha == null || !sha.isTextual() || !image.path("width").isNumber()
                    || !image.path("height").isNumber()) {
                throw unexpected(path, "an image lacks 'png', 'sha256', 'width' or 'height'");
            }
            if (store && !image.path("uri").isTextual()) {
                throw unexpected(path, "a stored image has no 'uri'");
            }
            parsed.add(new Image(text(image, "key"), png.asText(), sha.asText(), text(image, "mime"),
                    image.get("width").asLong(), image.get("height").asLong(), text(image, "uri")));
        }
        return new ImageAnswer(text(answer, "model"), text(answer, "version"), text(answer, "generator"), parsed);
    }

    private static String text(JsonNode answer, String field) {
        JsonNode value = answer.get(field);
        return value == null || value.isNull() ? null : value.asText();
    }

    private KgstoreException unexpected(String path, String what) {
        return new KgstoreException("kgstore sidecar at " + client.config().url + " answered POST " + path
                + " with an unexpected body (" + what + "); are the plugin and `kgstore serve` the same kgstore version?");
    }
}
