package io.kgstore.plugin;

import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.RelationshipType;

/**
 * The graph names the plugin reads and writes: labels, relationship types and property names, in one place.
 *
 * <p>Its Python twin is {@code kgstore/graph_names.py}; the two must agree, name for name and value for value,
 * because the plugin reads what the Python side writes ({@code (:Entity {key})}, {@code (:KgModel)}) and the
 * Python side reads what the plugin writes ({@code KGSTORE_PREDICTED} edges). Change a value in both or in
 * neither. Each constant here has the same name and value in the Python module, except the five
 * {@code PREDICTED_*} property names, which Python keeps as the tuple {@code PREDICTED_FIELDS} in this order.
 * The Python module has more names (images, relation texts, version fields); this class holds only those the
 * plugin uses. Procedure descriptions and {@code plugin/README.md} repeat these names as documentation.
 */
public final class GraphNames {

    private GraphNames() {}

    // ---- entities: (:Entity {key}) ------------------------------------------------------------------------

    /** The label of entity nodes. */
    public static final Label ENTITY = Label.label("Entity");
    /** The property of an {@link #ENTITY} that identifies it: what the sidecar knows it by (a string, unique). */
    public static final String ENTITY_KEY = "key";

    // ---- models: (:KgModel {id, index, property, written_at}) ----------------------------------------------

    /** The label of the node that describes a trained model's vectors in the database. */
    public static final Label KG_MODEL = Label.label("KgModel");
    /** The model's name. */
    public static final String MODEL_ID = "id";
    /** The name of the vector index over the model's current entity vectors. */
    public static final String MODEL_INDEX = "index";
    /** The entity property that holds the model's current vectors. */
    public static final String MODEL_PROPERTY = "property";
    /** When the model's current vectors were written (a datetime); the latest model is the one written last. */
    public static final String MODEL_WRITTEN_AT = "written_at";

    // ---- predictions: (h)-[:KGSTORE_PREDICTED {relation, score, model, version, created_at}]->(t) --------

    /** The relationship type of predicted edges; facts have the relation itself as their type. */
    public static final RelationshipType PREDICTED = RelationshipType.withName("KGSTORE_PREDICTED");
    /** The relation the edge predicts (the facts' relationship type). */
    public static final String PREDICTED_RELATION = "relation";
    /** The model's score (higher is more plausible). */
    public static final String PREDICTED_SCORE = "score";
    /** The model that made the prediction, as the sidecar named it. */
    public static final String PREDICTED_MODEL = "model";
    /** The version of that model, as the sidecar named it. */
    public static final String PREDICTED_VERSION = "version";
    /** When the prediction was written (a datetime, UTC). */
    public static final String PREDICTED_CREATED_AT = "created_at";

    // ---- generated images: (:Entity)-[:KGSTORE_GENERATED]->(:Image:GeneratedImage {sha256, generated: true}) --

    /** The label of every image node, real or generated (unique by {@link #IMAGE_SHA256}). */
    public static final Label IMAGE = Label.label("Image");
    /** The second label of a generated image, so styles and queries tell it from a real one. */
    public static final Label GENERATED_IMAGE = Label.label("GeneratedImage");
    /** The relationship type from an entity to an image generated for it; never a fact, never HAS_IMAGE. */
    public static final RelationshipType GENERATED = RelationshipType.withName("KGSTORE_GENERATED");
    /** An image's key: the sha256 of its bytes (the content-addressed store's file name). */
    public static final String IMAGE_SHA256 = "sha256";
    /** True on every generated image; the export and the feature cache skip such images. */
    public static final String GENERATED_FLAG = "generated";

    // ---- vector search --------------------------------------------------------------------------------------

    /**
     * The fewest candidates asked of a model's vector index. Its HNSW search keeps as many candidates
     * as it is asked for, so asking for 100 and keeping k buys recall: on 100,000 random vectors
     * (dim 128) recall@10 goes from 0.39 to 0.76 (bench/writeback_bench.py).
     */
    public static final long SEARCH_WIDTH = 100;
}
