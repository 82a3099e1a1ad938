package io.kgstore.plugin;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** How sidecar error bodies become messages. */
class JsonTest {

    @Test
    void stringDetail() {
        assertThat(Json.detail("{\"detail\": \"unknown relation 'foo'\"}")).isEqualTo("unknown relation 'foo'");
    }

    @Test
    void fastApiValidationListIsJoined() {
        String body = "{\"detail\": [{\"loc\": [\"body\", \"k\"], \"msg\": \"Input should be less than or equal to 1000\","
                + " \"type\": \"less_than_equal\"}, {\"loc\": [\"body\", \"queries\", 0, \"entity\"],"
                + " \"msg\": \"Field required\", \"type\": \"missing\"}]}";

        assertThat(Json.detail(body))
                .isEqualTo("k: Input should be less than or equal to 1000; queries.0.entity: Field required");
    }

    @Test
    void otherBodiesAreShownShortened() {
        assertThat(Json.detail("Internal Server Error")).isEqualTo("Internal Server Error");
        assertThat(Json.detail("")).isEqualTo("(empty body)");
        assertThat(Json.detail("x".repeat(1000))).hasSize(303);
    }
}
