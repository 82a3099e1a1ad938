package io.kgstore.plugin;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.neo4j.procedure.TerminationGuard;

/**
 * Calls the decoder sidecar over HTTP/1.1 with JSON bodies and turns every failure into a
 * {@link KgstoreException} whose message says what happened and which setting to check.
 *
 * <p>One {@link HttpClient} is shared by all calls (rebuilt only when the connect timeout setting
 * changes). Every call is bounded: the read timeout applies to each request, and a hard deadline
 * (connect + read timeout + 1 s) cancels anything still pending. While waiting, the caller's
 * transaction is checked for termination every 100 ms, so {@code TERMINATE TRANSACTION} works.
 */
final class SidecarClient {

    private static final long POLL_MS = 100;
    private static final long DEADLINE_SLACK_MS = 1000;

    private static HttpClient shared;
    private static int sharedConnectTimeoutMs;

    private final SidecarConfig config;
    private final TerminationGuard guard;

    /** {@code guard} may be null (no termination checks). */
    SidecarClient(SidecarConfig config, TerminationGuard guard) {
        this.config = config;
        this.guard = guard;
    }

    SidecarConfig config() {
        return config;
    }

    /** POSTs {@code body} to {@code path} (e.g. "/predict") and returns the JSON object answered with 2xx. */
    JsonNode post(String path, JsonNode body) {
        URI uri = URI.create(config.url + path);
        HttpRequest.Builder request = HttpRequest.newBuilder(uri)
                .timeout(Duration.ofMillis(config.readTimeoutMs))
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .header("User-Agent", "kgstore-plugin/" + Version.PLUGIN_VERSION)
                .POST(HttpRequest.BodyPublishers.ofString(Json.write(body), StandardCharsets.UTF_8));
        if (config.token != null) {
            request.header("Authorization", "Bearer " + config.token);
        }
        HttpResponse<String> response = send(request.build());
        return interpret(path, response);
    }

    private HttpResponse<String> send(HttpRequest request) {
        CompletableFuture<HttpResponse<String>> future =
                http(config.connectTimeoutMs).sendAsync(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        long deadline = System.nanoTime()
                + TimeUnit.MILLISECONDS.toNanos(config.connectTimeoutMs + config.readTimeoutMs + DEADLINE_SLACK_MS);
        try {
            while (true) {
                if (guard != null) {
                    try {
                        guard.check();
                    } catch (RuntimeException terminated) {
                        future.cancel(true);
                        throw terminated;
                    }
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    future.cancel(true);
                    throw readTimeout();
                }
                try {
                    return future.get(Math.min(TimeUnit.NANOSECONDS.toMillis(left) + 1, POLL_MS), TimeUnit.MILLISECONDS);
                } catch (TimeoutException notYet) {
                    // poll again
                }
            }
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw new KgstoreException("interrupted while waiting for the kgstore sidecar at " + config.url);
        } catch (ExecutionException e) {
            throw failure(e.getCause() == null ? e : e.getCause());
        }
    }

    private KgstoreException failure(Throwable cause) {
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof HttpConnectTimeoutException) {
                return new KgstoreException("kgstore sidecar at " + config.url + " did not accept a connection within "
                        + config.connectTimeoutMs + " ms (" + SidecarConfig.CONNECT_TIMEOUT + " in " + config.file
                        + "): check that it is running and that " + config.whereUrlIsSet() + " is right");
            }
            if (t instanceof HttpTimeoutException) {
                return readTimeout();
            }
            if (t instanceof ConnectException || t instanceof UnresolvedAddressException) {
                String why = t instanceof UnresolvedAddressException ? "unknown host" : "connection refused";
                return new KgstoreException("kgstore sidecar at " + config.url + " is not reachable (" + why
                        + "): start it with `kgstore serve`, or set " + config.whereUrlIsSet());
            }
        }
        String what = cause instanceof IOException ? "failed" : "failed unexpectedly";
        return new KgstoreException("kgstore sidecar call to " + config.url + " " + what + ": " + chain(cause)
                + " (check that " + config.whereUrlIsSet() + " points at a running `kgstore serve`)");
    }

    /** "a: msg (caused by b: msg)" for the whole cause chain. */
    private static String chain(Throwable cause) {
        StringBuilder out = new StringBuilder(String.valueOf(cause));
        for (Throwable t = cause.getCause(); t != null && t != t.getCause(); t = t.getCause()) {
            out.append(" (caused by ").append(t).append(')');
        }
        return out.toString();
    }

    private KgstoreException readTimeout() {
        return new KgstoreException("kgstore sidecar at " + config.url + " did not answer within "
                + config.readTimeoutMs + " ms (" + SidecarConfig.READ_TIMEOUT + " in " + config.file + ")");
    }

    private JsonNode interpret(String path, HttpResponse<String> response) {
        int status = response.statusCode();
        String body = response.body();
        if (status == 401) {
            String fix = config.token == null
                    ? "no token is configured: set " + config.whereTokenIsSet() + " to the token the sidecar was started with"
                    : "the configured token was rejected: check " + config.whereTokenIsSet();
            throw new KgstoreException("kgstore sidecar at " + config.url + " answered 401 ("
                    + Json.detail(body) + "): " + fix);
        }
        if (status < 200 || status > 299) {
            throw new KgstoreException("kgstore sidecar answered " + status + ": " + Json.detail(body)
                    + " (POST " + config.url + path + ")");
        }
        JsonNode json = Json.parseOrNull(body);
        if (json == null || !json.isObject()) {
            throw new KgstoreException("kgstore sidecar at " + config.url + " answered " + status + " to POST " + path
                    + " with a body that is not a JSON object; is " + config.whereUrlIsSet()
                    + " pointing at `kgstore serve`?");
        }
        return json;
    }

    private static synchronized HttpClient http(int connectTimeoutMs) {
        if (shared == null || sharedConnectTimeoutMs != connectTimeoutMs) {
            shared = HttpClient.newBuilder()
                    .version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(Duration.ofMillis(connectTimeoutMs))
                    .followRedirects(HttpClient.Redirect.NEVER)
                    .build();
            sharedConnectTimeoutMs = connectTimeoutMs;
        }
        return shared;
    }
}
