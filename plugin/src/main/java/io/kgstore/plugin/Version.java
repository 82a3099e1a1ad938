package io.kgstore.plugin;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;
import java.util.stream.Stream;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Procedure;

/** Procedures that report version information: {@code kgstore.version()}. */
public class Version {

    /** Classpath resource written by Maven resource filtering; holds {@code version=${project.version}}. */
    static final String PROPERTIES_RESOURCE = "kgstore-plugin.properties";

    /** The plugin version, read once from {@link #PROPERTIES_RESOURCE}. */
    static final String PLUGIN_VERSION = loadPluginVersion();

    /** One row of {@code kgstore.version()}. */
    public static class VersionResult {
        /** Version of the kgstore plugin jar, e.g. {@code 0.1.0}. */
        public final String version;

        /** Version of the Neo4j kernel the plugin is running in, e.g. {@code 5.26.30}. */
        public final String neo4jVersion;

        public VersionResult(String version, String neo4jVersion) {
            this.version = version;
            this.neo4jVersion = neo4jVersion;
        }
    }

    @Procedure(name = "kgstore.version", mode = Mode.READ)
    @Description("kgstore.version() - returns the kgstore plugin version and the running Neo4j version.")
    public Stream<VersionResult> version() {
        return Stream.of(new VersionResult(PLUGIN_VERSION, org.neo4j.kernel.internal.Version.getNeo4jVersion()));
    }

    private static String loadPluginVersion() {
        Properties properties = new Properties();
        try (InputStream in = Version.class.getResourceAsStream(PROPERTIES_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("Missing resource " + PROPERTIES_RESOURCE + " next to " + Version.class);
            }
            properties.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + PROPERTIES_RESOURCE, e);
        }
        String version = properties.getProperty("version");
        if (version == null || version.isBlank() || version.startsWith("${")) {
            throw new IllegalStateException(PROPERTIES_RESOURCE + " has no filtered 'version' property: " + version);
        }
        return version.trim();
    }
}
