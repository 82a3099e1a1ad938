package io.kgstore.plugin;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.neo4j.configuration.Config;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.kernel.internal.GraphDatabaseAPI;

/**
 * Finds, reads and caches {@code kgstore.conf}, the plugin's own settings file.
 *
 * <p>Neo4j 5 rejects unknown keys in {@code neo4j.conf}, so the plugin keeps its settings in a
 * separate Java properties file. It is looked up, first match wins:
 * <ol>
 *   <li>the path given to {@link #useFile(Path)} (a static hook for tests and embedders);</li>
 *   <li>the path in the JVM system property {@value #FILE_PROPERTY};</li>
 *   <li>{@code $NEO4J_CONF/kgstore.conf} (the Neo4j scripts set {@code NEO4J_CONF});</li>
 *   <li>{@code <server.directories.neo4j_home>/conf/kgstore.conf}.</li>
 * </ol>
 * A missing file means all defaults. The file is re-read whenever its modification time or size
 * changes, so pointing the plugin at another sidecar needs no restart; otherwise the parsed
 * {@link SidecarConfig} is cached.
 */
final class KgstoreConf {

    /** File name inside Neo4j's conf directory. */
    static final String FILE_NAME = "kgstore.conf";
    /** JVM system property holding an explicit path to the file (overrides the conf directory). */
    static final String FILE_PROPERTY = "kgstore.conf.file";

    private static volatile Path override;
    private static Cached cached;

    private KgstoreConf() {}

    /** Test/embedding hook: read the settings from {@code file} (null: back to the normal lookup). */
    static void useFile(Path file) {
        override = file;
    }

    /** The current settings for the server that {@code db} belongs to. */
    static SidecarConfig current(GraphDatabaseAPI db) {
        return load(locate(db), System.getenv());
    }

    /** Where kgstore.conf is (or would be) for the server that {@code db} belongs to. */
    static Path locate(GraphDatabaseAPI db) {
        Path hook = override;
        if (hook != null) {
            return hook;
        }
        String property = System.getProperty(FILE_PROPERTY);
        if (property != null && !property.isBlank()) {
            return Path.of(property.trim());
        }
        String confDir = System.getenv("NEO4J_CONF");
        if (confDir != null && !confDir.isBlank()) {
            return Path.of(confDir.trim()).resolve(FILE_NAME);
        }
        Config config = db.getDependencyResolver().resolveDependency(Config.class);
        Path home = config.get(GraphDatabaseSettings.neo4j_home);
        return home.resolve("conf").resolve(FILE_NAME);
    }

    /** Reads {@code file} unless the cached copy has the same path, modification time and size. */
    static synchronized SidecarConfig load(Path file, Map<String, String> env) {
        Stamp stamp = Stamp.of(file);
        if (cached != null && cached.file().equals(file) && cached.stamp().equals(stamp)
                && cached.env().equals(envKeys(env))) {
            return cached.config();
        }
        Properties props = new Properties();
        if (stamp.exists()) {
            try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                props.load(reader);
            } catch (IOException e) {
                throw new KgstoreException("cannot read " + file + ": " + e);
            }
        }
        SidecarConfig config = SidecarConfig.of(props, file, stamp.exists(), env);
        cached = new Cached(file, stamp, envKeys(env), config);
        return config;
    }

    private static Map<String, String> envKeys(Map<String, String> env) {
        return Map.of(
                SidecarConfig.URL_ENV, Objects.toString(env.get(SidecarConfig.URL_ENV), ""),
                SidecarConfig.TOKEN_ENV, Objects.toString(env.get(SidecarConfig.TOKEN_ENV), ""));
    }

    /** What identifies one version of the file on disk. */
    private record Stamp(boolean exists, long modifiedNanos, long size) {
        static Stamp of(Path file) {
            try {
                BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);
                return new Stamp(true, attrs.lastModifiedTime().to(TimeUnit.NANOSECONDS), attrs.size());
            } catch (NoSuchFileException e) {
                return new Stamp(false, 0, 0);
            } catch (IOException e) {
                throw new KgstoreException("cannot read " + file + ": " + e);
            }
        }
    }

    private record Cached(Path file, Stamp stamp, Map<String, String> env, SidecarConfig config) {}
}
