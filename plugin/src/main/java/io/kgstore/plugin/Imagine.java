package io.kgstore.plugin;

import static io.kgstore.plugin.GraphNames.GENERATED;
import static io.kgstore.plugin.GraphNames.GENERATED_FLAG;
import static io.kgstore.plugin.GraphNames.GENERATED_IMAGE;
import static io.kgstore.plugin.GraphNames.IMAGE;
import static io.kgstore.plugin.GraphNames.IMAGE_SHA256;

import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.neo4j.graphdb.Direction;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Relationship;
import org.neo4j.graphdb.Transaction;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;
import org.neo4j.procedure.TerminationGuard;

/**
 * {@code kgstore.imagine(node, config)}: an image of one entity drawn from its learned vector by the sidecar's
 * image generator, optionally written into the graph as a generated image.
 *
 * <p>A written image is {@code (:Image:GeneratedImage {sha256, mime, width, height, uri, generated: true, model,
 * version, seed, created_at})} linked {@code (entity)-[:KGSTORE_GENERATED]->(image)}, the same shape
 * {@code kgstore imagine --write} writes ({@code kgstore/generated.py}). The same entity, seed, steps and guidance
 * give the same bytes, hence the same sha256: writing again finds the node and the edge instead of duplicating them.
 * The sidecar call finishes before the first write, so a failed call leaves the database untouched.
 */
public class Imagine {

    static final String NAME = "kgstore.imagine";
    private static final Set<String> KEYS = Set.of("steps", "guidance", "seed", "write");

    @Context
    public GraphDatabaseAPI db;

    @Context
    public Transaction tx;

    @Context
    public TerminationGuard guard;

    /** One generated image. */
    public static class Row {
        /** The {@code :Image:GeneratedImage} node with {@code write: true}; null otherwise. */
        public final Node image;
        public final String sha256;
        public final long width;
        public final long height;
        /** The PNG file, base64-encoded. */
        public final String png;

        public Row(Node image, String sha256, long width, long height, String png) {
            this.image = image;
            this.sha256 = sha256;
            this.width = width;
            this.height = height;
            this.png = png;
        }
    }

    @Procedure(name = NAME, mode = Mode.WRITE)
    @Description("kgstore.imagine(node, config = {}) - an image of an entity generated from its learned vector by "
            + "the kgstore sidecar's image generator (POST /generate/image), asked by the node's `key` property. "
            + "config: seed (default 0: the same seed, the same image), steps (DDIM steps; default the generator's), "
            + "guidance (classifier-free guidance scale; default the generator's), write (default false: with true "
            + "the PNG goes into the kgstore image store and (node)-[:KGSTORE_GENERATED]->(:Image:GeneratedImage "
            + "{generated: true, ...}) is merged). YIELD image (the node, when written), sha256, width, height, png "
            + "(base64). Waits up to kgstore.sidecar.generate_timeout_ms (default 120000).")
    public Stream<Row> imagine(
            @Name("node") Node node,
            @Name(value = "config", defaultValue = "{}") java.util.Map<String, Object> config) {
        Options options = new Options(NAME, config, KEYS);
        Long seed = options.integerOrNull("seed", 0L);
        if (seed == null) {
            throw new IllegalArgumentException(NAME + ": config seed must be an integer (images are always seeded)");
        }
        Long steps = config != null && config.get("steps") != null ? options.positive("steps", 1) : null;
        Double guidance = options.number("guidance");
        if (guidance != null && (guidance < 0 || guidance.isInfinite())) {
            throw new IllegalArgumentException(NAME + ": config guidance must be a finite number at least 0, got "
                    + guidance);
        }
        boolean write = options.bool("write", false);
        String key = Entities.keyOf(NAME, "node", node);

        SidecarApi api = new SidecarApi(new SidecarClient(KgstoreConf.current(db), guard));
        SidecarApi.ImageAnswer answer = api.generateImage(List.of(key), seed, steps, guidance, write);
        SidecarApi.Image image = answer.images().get(0);
        Node written = write ? link(node, image, answer, seed) : null;
        return Stream.of(new Row(written, image.sha256(), image.width(), image.height(), image.png()));
    }

    private Node link(Node entity, SidecarApi.Image image, SidecarApi.ImageAnswer answer, long seed) {
        Node node = tx.findNode(IMAGE, IMAGE_SHA256, image.sha256());
        if (node == null) {
            node = tx.createNode(IMAGE, GENERATED_IMAGE);
            node.setProperty(IMAGE_SHA256, image.sha256());
            node.setProperty(GENERATED_FLAG, true);
            // The names of kgstore/graph_names.py GENERATED_FIELDS, in its order.
            node.setProperty("mime", image.mime() == null ? "image/png" : image.mime());
            node.setProperty("width", image.width());
            node.setProperty("height", image.height());
            node.setProperty("uri", image.uri());
            node.setProperty("model", answer.model());
            node.setProperty("version", answer.version());
            node.setProperty("seed", seed);
            node.setProperty("created_at", ZonedDateTime.now(ZoneOffset.UTC));
        } else if (!Boolean.TRUE.equals(node.getProperty(GENERATED_FLAG, null))) {
            throw new KgstoreException("the generated image " + image.sha256() + " has the bytes of a real :"
                    + IMAGE.name() + " node; it was not linked as generated");
        }
        for (Relationship edge : entity.getRelationships(Direction.OUTGOING, GENERATED)) {
            if (edge.getEndNode().equals(node)) {
                return node;
            }
        }
        entity.createRelationshipTo(node, GENERATED);
        return node;
    }
}
