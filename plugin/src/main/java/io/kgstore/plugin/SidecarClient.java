package io.kgstore.plugin;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.HttpURLConnection;
import java.net.Proxy;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.neo4j.procedure.TerminationGuard;

/**
 * Calls the decoder sidecar over HTTP/1.1 with JSON bodies and turns every failure into a
 * {@link KgstoreException} whose message says what happened and which setting to check.
 *
 * <p>The call runs on the caller's thread with a blocking {@link HttpURLConnection} (the JDK keeps
 * connections alive and reuses them). The asynchronous {@code java.net.http.HttpClient} it replaced
 * handed every request across three threads; under eight concurrent Bolt clients that cost about as
 * much CPU as the whole sidecar search. Every call is bounded: the connect and read timeouts apply
 * to each request (generation calls wait up to their own, longer read timeout), and the
 * {@link Watchdog} aborts a call past its hard deadline (connect + read timeout + 1 s) or whose
 * transaction was terminated, checking every 100 ms, so
 * {@code TERMINATE TRANSACTION} works while a call waits.
 */
final class SidecarClient {

    private static final long DEADLINE_SLACK_MS = 1000;
    /** Idle keep-alive connections the JDK keeps per host; its default (5) is below the Bolt worker count. */
    static final String KEEP_ALIVE_PROPERTY = "http.maxConnections";
    static final int KEEP_ALIVE_CONNECTIONS = 64;

    static {
        // Read once, when the JDK's keep-alive cache first stores a connection; a value set by the
        // operator (server.jvm.additional=-Dhttp.maxConnections=...) is left alone. With the default,
        // concurrent procedure calls beyond five open and close a TCP connection each time.
        if (System.getProperty(KEEP_ALIVE_PROPERTY) == null) {
            System.setProperty(KEEP_ALIVE_PROPERTY, Integer.toString(KEEP_ALIVE_CONNECTIONS));
        }
    }

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

    /**
     * POSTs {@code body} to {@code path} (e.g. "/predict") and returns the JSON object answered with 2xx;
     * waits for the answer up to {@link SidecarConfig#READ_TIMEOUT}.
     */
    JsonNode post(String path, JsonNode body) {
        return post(path, body, config.readTimeout());
    }

    /** As {@link #post(String, JsonNode)}, waiting for the answer up to {@code timeout} (e.g. generation's). */
    JsonNode post(String path, JsonNode body, SidecarConfig.ReadTimeout timeout) {
        byte[] payload = Json.write(body).getBytes(StandardCharsets.UTF_8);
        HttpURLConnection connection;
        try {
            connection = (HttpURLConnection) URI.create(config.url + path).toURL().openConnection(Proxy.NO_PROXY);
        } catch (IOException | IllegalArgumentException e) {
            throw failure(e);
        }
        connection.setConnectTimeout(config.connectTimeoutMs);
        connection.setReadTimeout(timeout.millis());
        connection.setInstanceFollowRedirects(false);
        connection.setUseCaches(false);
        connection.setDoOutput(true);
        connection.setRequestProperty("Content-Type", "application/json");
        connection.setRequestProperty("Accept", "application/json");
        connection.setRequestProperty("User-Agent", "kgstore-plugin/" + Version.PLUGIN_VERSION);
        if (config.token != null) {
            connection.setRequestProperty("Authorization", "Bearer " + config.token);
        }
        long deadline = System.nanoTime()
                + TimeUnit.MILLISECONDS.toNanos((long) config.connectTimeoutMs + timeout.millis() + DEADLINE_SLACK_MS);
        Watchdog.Call call = Watchdog.watch(connection, guard, deadline);
        int status;
        String answer;
        try {
            connection.setRequestMethod("POST");
            try {
                connection.connect();
            } catch (SocketTimeoutException e) {
                throw connectTimeout();
            }
            try (OutputStream out = connection.getOutputStream()) {
                out.write(payload);
            }
            status = connection.getResponseCode();
            InputStream in = status >= 400 ? connection.getErrorStream() : connection.getInputStream();
            try (InputStream stream = in) {
                answer = stream == null ? "" : new String(stream.readAllBytes(), StandardCharsets.UTF_8);
            }
        } catch (IOException e) {
            if (call.terminated()) {
                guard.check();  // throws the transaction's own termination error
            }
            throw call.pastDeadline() || e instanceof SocketTimeoutException ? readTimeout(timeout) : failure(e);
        } finally {
            Watchdog.done(call);
        }
        return interpret(path, status, answer);
    }

    private KgstoreException failure(Throwable cause) {
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof ConnectException || t instanceof UnknownHostException) {
                String why = t instanceof UnknownHostException ? "unknown host" : "connection refused";
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

    private KgstoreException connectTimeout() {
        return new KgstoreException("kgstore sidecar at " + config.url + " did not accept a connection within "
                + config.connectTimeoutMs + " ms (" + SidecarConfig.CONNECT_TIMEOUT + " in " + config.file
                + "): check that it is running and that " + config.whereUrlIsSet() + " is right");
    }

    private KgstoreException readTimeout(SidecarConfig.ReadTimeout timeout) {
        return new KgstoreException("kgstore sidecar at " + config.url + " did not answer within "
                + timeout.millis() + " ms (" + timeout.key() + " in " + config.file + ")");
    }

    private JsonNode interpret(String path, int status, String body) {
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

    /**
     * One daemon thread that looks at the calls in flight every 100 ms and closes the connection of
     * any whose transaction was terminated or whose hard deadline passed; the blocked caller then
     * fails at once and reports why ({@link Call#terminated()}, {@link Call#pastDeadline()}).
     */
    static final class Watchdog {

        private static final long PERIOD_MS = 100;
        private static final Set<Call> CALLS = ConcurrentHashMap.newKeySet();
        private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(task -> {
            Thread thread = new Thread(task, "kgstore-sidecar-watchdog");
            thread.setDaemon(true);
            return thread;
        });

        static {
            TIMER.scheduleWithFixedDelay(Watchdog::sweep, PERIOD_MS, PERIOD_MS, TimeUnit.MILLISECONDS);
        }

        private Watchdog() {}

        /** A call being watched; {@code guard} may be null (no termination checks). */
        static final class Call {
            private final HttpURLConnection connection;
            private final TerminationGuard guard;
            private final long deadlineNanos;
            private volatile boolean terminated;
            private volatile boolean pastDeadline;

            private Call(HttpURLConnection connection, TerminationGuard guard, long deadlineNanos) {
                this.connection = connection;
                this.guard = guard;
                this.deadlineNanos = deadlineNanos;
            }

            boolean terminated() {
                return terminated;
            }

            boolean pastDeadline() {
                return pastDeadline;
            }
        }

        static Call watch(HttpURLConnection connection, TerminationGuard guard, long deadlineNanos) {
            Call call = new Call(connection, guard, deadlineNanos);
            CALLS.add(call);
            return call;
        }

        static void done(Call call) {
            CALLS.remove(call);
        }

        private static void sweep() {
            long now = System.nanoTime();
            for (Call call : CALLS) {
                try {
                    if (call.guard != null && !call.terminated) {
                        try {
                            call.guard.check();
                        } catch (RuntimeException terminated) {
                            call.terminated = true;
                        }
                    }
                    if (now - call.deadlineNanos > 0) {
                        call.pastDeadline = true;
                    }
                    if (call.terminated || call.pastDeadline) {
                        call.connection.disconnect();  // the caller's blocked read fails now
                    }
                } catch (RuntimeException unexpected) {
                    // never let one call stop the sweeps of the others
                }
            }
        }
    }
}
