package io.kgstore.plugin;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/**
 * JSON helpers for the sidecar protocol. Jackson is bundled into the plugin jar relocated under
 * {@code io.kgstore.shaded.jackson}, so it never meets the server's own Jackson.
 */
final class Json {

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final int MAX_RAW_DETAIL = 300;

    private Json() {}

    static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    static String write(JsonNode node) {
        try {
            return MAPPER.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise " + node, e);
        }
    }

    /** Parses {@code body}; null when it is not JSON. */
    static JsonNode parseOrNull(String body) {
        if (body == null || body.isBlank()) {
            return null;
        }
        try {
            return MAPPER.readTree(body);
        } catch (JsonProcessingException e) {
            return null;
        }
    }

    /**
     * The human part of a FastAPI error body: {@code detail} when it is a string; for a 422 list of
     * {@code {loc, msg}} entries, the entries as {@code "k: Input should be ..."} joined by "; ";
     * otherwise the (shortened) raw body.
     */
    static String detail(String body) {
        JsonNode json = parseOrNull(body);
        JsonNode detail = json == null ? null : json.get("detail");
        if (detail == null || detail.isNull()) {
            return shorten(body == null || body.isBlank() ? "(empty body)" : body.strip());
        }
        if (detail.isTextual()) {
            return detail.asText();
        }
        if (detail.isArray()) {
            List<String> parts = new ArrayList<>();
            for (JsonNode entry : detail) {
                parts.add(validationEntry(entry));
            }
            return String.join("; ", parts);
        }
        return shorten(detail.toString());
    }

    private static String validationEntry(JsonNode entry) {
        JsonNode msg = entry.get("msg");
        if (msg == null || !msg.isTextual()) {
            return shorten(entry.toString());
        }
        JsonNode loc = entry.get("loc");
        List<String> path = new ArrayList<>();
        if (loc != null && loc.isArray()) {
            for (JsonNode part : loc) {
                path.add(part.asText());
            }
            if (!path.isEmpty() && path.get(0).equals("body")) {
                path.remove(0);
            }
        }
        return path.isEmpty() ? msg.asText() : String.join(".", path) + ": " + msg.asText();
    }

    private static String shorten(String text) {
        return text.length() <= MAX_RAW_DETAIL ? text : text.substring(0, MAX_RAW_DETAIL) + "...";
    }
}
