package io.kgstore.plugin;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;

/**
 * Where the decoder sidecar is and how to talk to it: one immutable snapshot of {@code kgstore.conf}
 * plus the environment overrides. {@link KgstoreConf} finds, reads and caches it.
 *
 * <p>Keys (all optional): {@value #URL}, {@value #TOKEN}, {@value #CONNECT_TIMEOUT}, {@value #READ_TIMEOUT},
 * {@value #GENERATE_TIMEOUT}.
 * The environment variables {@value #URL_ENV} and {@value #TOKEN_ENV} win over the file.
 */
final class SidecarConfig {

    static final String URL = "kgstore.sidecar.url";
    static final String TOKEN = "kgstore.sidecar.token";
    static final String CONNECT_TIMEOUT = "kgstore.sidecar.connect_timeout_ms";
    static final String READ_TIMEOUT = "kgstore.sidecar.read_timeout_ms";
    /** The read timeout of generation calls ({@code /generate/...}), which can take seconds on a CPU. */
    static final String GENERATE_TIMEOUT = "kgstore.sidecar.generate_timeout_ms";

    static final String URL_ENV = "KGSTORE_SIDECAR_URL";
    static final String TOKEN_ENV = "KGSTORE_SIDECAR_TOKEN";

    static final String DEFAULT_URL = "http://127.0.0.1:8765";
    static final int DEFAULT_CONNECT_TIMEOUT_MS = 2000;
    static final int DEFAULT_READ_TIMEOUT_MS = 30000;
    static final int DEFAULT_GENERATE_TIMEOUT_MS = 120000;

    /** How long one kind of call waits for its answer, and the setting that says so (named in timeout errors). */
    record ReadTimeout(String key, int millis) {}

    /** Base URL without a trailing slash, e.g. {@code http://127.0.0.1:8765}. */
    final String url;
    /** Bearer token, or null when none is configured. */
    final String token;
    final int connectTimeoutMs;
    final int readTimeoutMs;
    final int generateTimeoutMs;
    /** The kgstore.conf this was read from (or would have been: it may not exist). */
    final Path file;
    final boolean fileExists;
    final boolean urlFromEnv;
    final boolean tokenFromEnv;

    private SidecarConfig(String url, String token, int connectTimeoutMs, int readTimeoutMs, int generateTimeoutMs,
                          Path file, boolean fileExists, boolean urlFromEnv, boolean tokenFromEnv) {
        this.url = url;
        this.token = token;
        this.connectTimeoutMs = connectTimeoutMs;
        this.readTimeoutMs = readTimeoutMs;
        this.generateTimeoutMs = generateTimeoutMs;
        this.file = file;
        this.fileExists = fileExists;
        this.urlFromEnv = urlFromEnv;
        this.tokenFromEnv = tokenFromEnv;
    }

    /**
     * Builds a config from the properties of {@code file} (empty when it does not exist) and the
     * environment {@code env}; malformed values fail with a message naming the key and the file.
     */
    static SidecarConfig of(Properties props, Path file, boolean fileExists, Map<String, String> env) {
        String envUrl = blankToNull(env.get(URL_ENV));
        String envToken = blankToNull(env.get(TOKEN_ENV));
        String rawUrl = envUrl != null ? envUrl : blankToNull(props.getProperty(URL));
        String url = checkUrl(rawUrl == null ? DEFAULT_URL : rawUrl, envUrl != null ? URL_ENV : URL + " in " + file);
        String token = envToken != null ? envToken : blankToNull(props.getProperty(TOKEN));
        int connect = millis(props, CONNECT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT_MS, file);
        int read = millis(props, READ_TIMEOUT, DEFAULT_READ_TIMEOUT_MS, file);
        int generate = millis(props, GENERATE_TIMEOUT, DEFAULT_GENERATE_TIMEOUT_MS, file);
        return new SidecarConfig(url, token, connect, read, generate, file, fileExists, envUrl != null, envToken != null);
    }

    /** The read timeout of the scoring calls ({@code /score}, {@code /predict}). */
    ReadTimeout readTimeout() {
        return new ReadTimeout(READ_TIMEOUT, readTimeoutMs);
    }

    /** The read timeout of the generation calls ({@code /generate/text}). */
    ReadTimeout generateTimeout() {
        return new ReadTimeout(GENERATE_TIMEOUT, generateTimeoutMs);
    }

    /** "kgstore.sidecar.url in /path/kgstore.conf", or the env variable when that is what set it. */
    String whereUrlIsSet() {
        return urlFromEnv
                ? "the environment variable " + URL_ENV + " (it overrides " + URL + " in " + file + ")"
                : URL + " in " + file;
    }

    /** Where the token is (or would be) configured, for 401 messages. */
    String whereTokenIsSet() {
        return tokenFromEnv
                ? "the environment variable " + TOKEN_ENV + " (it overrides " + TOKEN + " in " + file + ")"
                : TOKEN + " in " + file + " (or the environment variable " + TOKEN_ENV + ")";
    }

    @Override
    public String toString() {
        return "SidecarConfig{url=" + url + ", token=" + (token == null ? "none" : "***")
                + ", connectTimeoutMs=" + connectTimeoutMs + ", readTimeoutMs=" + readTimeoutMs
                + ", generateTimeoutMs=" + generateTimeoutMs
                + ", file=" + file + (fileExists ? "" : " (missing)") + "}";
    }

    private static String checkUrl(String url, String where) {
        String trimmed = url.trim();
        while (trimmed.endsWith("/")) {
            trimmed = trimmed.substring(0, trimmed.length() - 1);
        }
        try {
            URI uri = new URI(trimmed);
            String scheme = uri.getScheme();
            if (scheme == null || !(scheme.equalsIgnoreCase("http") || scheme.equalsIgnoreCase("https"))
                    || uri.getHost() == null) {
                throw new URISyntaxException(trimmed, "not an absolute http(s) URL with a host");
            }
        } catch (URISyntaxException e) {
            throw new KgstoreException("kgstore sidecar URL '" + url + "' (from " + where
                    + ") is not valid: expected something like " + DEFAULT_URL);
        }
        return trimmed;
    }

    private static int millis(Properties props, String key, int fallback, Path file) {
        String raw = blankToNull(props.getProperty(key));
        if (raw == null) {
            return fallback;
        }
        try {
            int value = Integer.parseInt(raw.trim());
            if (value <= 0) {
                throw new NumberFormatException();
            }
            return value;
        } catch (NumberFormatException e) {
            throw new KgstoreException(key + "=" + raw + " in " + file
                    + " is not valid: expected a positive number of milliseconds");
        }
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }
}
