package io.kgstore.plugin;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.neo4j.driver.AuthTokens;
import org.neo4j.driver.Driver;
import org.neo4j.driver.GraphDatabase;
import org.neo4j.driver.Record;
import org.neo4j.driver.Session;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilders;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class VersionTest {

    private Neo4j neo4j;
    private Driver driver;

    @BeforeAll
    void startNeo4j() {
        neo4j = Neo4jBuilders.newInProcessBuilder()
                .withDisabledServer()
                .withProcedure(Version.class)
                .build();
        driver = GraphDatabase.driver(neo4j.boltURI(), AuthTokens.none());
    }

    @AfterAll
    void stopNeo4j() {
        if (driver != null) {
            driver.close();
        }
        if (neo4j != null) {
            neo4j.close();
        }
    }

    @Test
    void versionReportsPluginAndNeo4jVersions() {
        String expected = System.getProperty("kgstore.expectedVersion");
        assertThat(expected).as("system property kgstore.expectedVersion (set by surefire)").isNotBlank();

        try (Session session = driver.session()) {
            List<Record> rows = session.run("CALL kgstore.version()").list();

            assertThat(rows).hasSize(1);
            Record row = rows.get(0);
            assertThat(row.keys()).containsExactly("version", "neo4jVersion");
            assertThat(row.get("version").asString()).isEqualTo(expected);
            assertThat(row.get("neo4jVersion").asString()).startsWith("5.26");
        }
    }

    @Test
    void versionIsRegisteredAsReadWithDescription() {
        try (Session session = driver.session()) {
            Record row = session.run(
                            "SHOW PROCEDURES YIELD name, mode, description WHERE name = 'kgstore.version' "
                                    + "RETURN mode, description")
                    .single();

            assertThat(row.get("mode").asString()).isEqualTo("READ");
            assertThat(row.get("description").asString()).isNotBlank();
        }
    }
}
