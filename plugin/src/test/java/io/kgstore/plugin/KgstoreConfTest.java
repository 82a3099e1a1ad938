package io.kgstore.plugin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading, defaults, environment overrides and re-reading of kgstore.conf (no Neo4j needed). */
class KgstoreConfTest {

    @TempDir
    Path dir;

    @Test
    void missingFileMeansDefaults() {
        SidecarConfig config = KgstoreConf.load(dir.resolve("kgstore.conf"), Map.of());

        assertThat(config.url).isEqualTo("http://127.0.0.1:8765");
        assertThat(config.token).isNull();
        assertThat(config.connectTimeoutMs).isEqualTo(2000);
        assertThat(config.readTimeoutMs).isEqualTo(30000);
        assertThat(config.generateTimeoutMs).isEqualTo(120000);
        assertThat(config.fileExists).isFalse();
    }

    @Test
    void readsTheFileThePythonSideWrites() throws IOException {
        Path file = write("# Written by kgstore; do not edit by hand\n"
                + "kgstore.sidecar.url=http://127.0.0.1:40123/\n"
                + "kgstore.sidecar.token=abc\n"
                + "kgstore.sidecar.connect_timeout_ms=150\n"
                + "kgstore.sidecar.read_timeout_ms = 900\n"
                + "kgstore.sidecar.generate_timeout_ms=4500\n", 0);

        SidecarConfig config = KgstoreConf.load(file, Map.of());

        assertThat(config.url).isEqualTo("http://127.0.0.1:40123");
        assertThat(config.token).isEqualTo("abc");
        assertThat(config.connectTimeoutMs).isEqualTo(150);
        assertThat(config.readTimeoutMs).isEqualTo(900);
        assertThat(config.generateTimeoutMs).isEqualTo(4500);
        assertThat(config.generateTimeout()).isEqualTo(new SidecarConfig.ReadTimeout("kgstore.sidecar.generate_timeout_ms", 4500));
        assertThat(config.toString()).doesNotContain("abc");
    }

    @Test
    void environmentOverridesTheFile() throws IOException {
        Path file = write("kgstore.sidecar.url=http://127.0.0.1:40123\nkgstore.sidecar.token=abc\n", 0);

        SidecarConfig config = KgstoreConf.load(file,
                Map.of("KGSTORE_SIDECAR_URL", "http://sidecar:8765", "KGSTORE_SIDECAR_TOKEN", "xyz"));

        assertThat(config.url).isEqualTo("http://sidecar:8765");
        assertThat(config.token).isEqualTo("xyz");
        assertThat(config.whereUrlIsSet()).startsWith("the environment variable KGSTORE_SIDECAR_URL");
    }

    @Test
    void reReadWhenTheFileChangesAndCachedOtherwise() throws IOException {
        Path file = write("kgstore.sidecar.url=http://127.0.0.1:1111\n", 0);
        SidecarConfig first = KgstoreConf.load(file, Map.of());

        assertThat(KgstoreConf.load(file, Map.of())).isSameAs(first);

        write("kgstore.sidecar.url=http://127.0.0.1:2222\n", 5);
        assertThat(KgstoreConf.load(file, Map.of()).url).isEqualTo("http://127.0.0.1:2222");
    }

    @Test
    void badValuesNameTheKeyAndTheFile() throws IOException {
        Path file = write("kgstore.sidecar.read_timeout_ms=soon\n", 0);
        assertThatThrownBy(() -> KgstoreConf.load(file, Map.of()))
                .hasMessageContaining("kgstore.sidecar.read_timeout_ms=soon in " + file)
                .hasMessageContaining("positive number of milliseconds");

        write("kgstore.sidecar.generate_timeout_ms=0\n", 5);
        assertThatThrownBy(() -> KgstoreConf.load(file, Map.of()))
                .hasMessageContaining("kgstore.sidecar.generate_timeout_ms=0 in " + file)
                .hasMessageContaining("positive number of milliseconds");

        write("kgstore.sidecar.url=localhost:8765\n", 10);
        assertThatThrownBy(() -> KgstoreConf.load(file, Map.of()))
                .hasMessageContaining("kgstore sidecar URL 'localhost:8765' (from kgstore.sidecar.url in " + file + ")");
    }

    private Path write(String text, int secondsLater) throws IOException {
        Path file = dir.resolve("kgstore.conf");
        Files.writeString(file, text);
        Files.setLastModifiedTime(file, FileTime.from(Instant.now().plusSeconds(secondsLater)));
        return file;
    }
}
