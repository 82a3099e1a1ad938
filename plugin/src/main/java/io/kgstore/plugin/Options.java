package io.kgstore.plugin;

import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/** Reads and checks a procedure's {@code config} map: unknown keys and wrong types fail with clear messages. */
final class Options {

    private final String procedure;
    private final Map<String, Object> config;

    /** Fails when {@code config} has a key that is not in {@code allowed}. */
    Options(String procedure, Map<String, Object> config, Set<String> allowed) {
        this.procedure = procedure;
        this.config = config == null ? Map.of() : config;
        for (String key : this.config.keySet()) {
            if (!allowed.contains(key)) {
                throw new IllegalArgumentException(procedure + ": unknown config key '" + key + "' (allowed: "
                        + String.join(", ", new TreeSet<>(allowed)) + ")");
            }
        }
    }

    /** An integer value that must be at least 1; absent or null gives {@code fallback}. */
    long positive(String key, long fallback) {
        Object value = config.get(key);
        if (value == null) {
            return fallback;
        }
        if (!(value instanceof Long || value instanceof Integer)) {
            throw new IllegalArgumentException(procedure + ": config " + key + " must be an integer, got " + describe(value));
        }
        long number = ((Number) value).longValue();
        if (number <= 0) {
            throw new IllegalArgumentException(procedure + ": config " + key + " must be at least 1, got " + number);
        }
        return number;
    }

    /** A number, or null when absent or null. */
    Double number(String key) {
        Object value = config.get(key);
        if (value == null) {
            return null;
        }
        if (!(value instanceof Number)) {
            throw new IllegalArgumentException(procedure + ": config " + key + " must be a number, got " + describe(value));
        }
        double number = ((Number) value).doubleValue();
        if (Double.isNaN(number)) {
            throw new IllegalArgumentException(procedure + ": config " + key + " must be a number, got NaN");
        }
        return number;
    }

    /** A finite number that must be at least 0; absent or null gives {@code fallback}. */
    double nonNegative(String key, double fallback) {
        Double number = number(key);
        if (number == null) {
            return fallback;
        }
        if (number < 0 || number.isInfinite()) {
            throw new IllegalArgumentException(procedure + ": config " + key + " must be a finite number at least 0, got "
                    + number);
        }
        return number;
    }

    /** {@link #positive} with no fallback: null when the key is absent or null, so the callee chooses. */
    Long positiveOrNull(String key) {
        return config.get(key) == null ? null : positive(key, 1);
    }

    /**
     * An integer; absent gives {@code fallback}, while an explicit null is kept as null (for settings where
     * null has a meaning of its own, e.g. "no seed").
     */
    Long integerOrNull(String key, Long fallback) {
        if (!config.containsKey(key)) {
            return fallback;
        }
        Object value = config.get(key);
        if (value == null) {
            return null;
        }
        if (!(value instanceof Long || value instanceof Integer)) {
            throw new IllegalArgumentException(procedure + ": config " + key + " must be an integer or null, got "
                    + describe(value));
        }
        return ((Number) value).longValue();
    }

    boolean bool(String key, boolean fallback) {
        Object value = config.get(key);
        if (value == null) {
            return fallback;
        }
        if (!(value instanceof Boolean)) {
            throw new IllegalArgumentException(procedure + ": config " + key + " must be true or false, got " + describe(value));
        }
        return (Boolean) value;
    }

    /** One of {@code choices} (case-insensitive, returned lower-case); absent or null gives {@code fallback}. */
    String choice(String key, String fallback, Set<String> choices) {
        Object value = config.get(key);
        if (value == null) {
            return fallback;
        }
        String text = value instanceof String ? ((String) value).trim().toLowerCase(java.util.Locale.ROOT) : null;
        if (text == null || !choices.contains(text)) {
            throw new IllegalArgumentException(procedure + ": config " + key + " must be one of "
                    + String.join(", ", new TreeSet<>(choices).stream().map(c -> "'" + c + "'").toList())
                    + ", got " + describe(value));
        }
        return text;
    }

    private static String describe(Object value) {
        return value instanceof String ? "'" + value + "'" : value + " (" + value.getClass().getSimpleName() + ")";
    }
}
