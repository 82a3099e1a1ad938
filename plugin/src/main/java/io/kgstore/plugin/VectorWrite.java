package io.kgstore.plugin;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.stream.Stream;
import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Transaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;

/**
 * Bulk vector write-back: {@code kgstore.writeVectors(property, keys, vectors, dimension)}.
 *
 * <p>One call carries a whole batch (thousands of keys and one float32 blob), so the cost per
 * vector is an index lookup and a property write, not a Cypher row with a map and a list of
 * boxed floats. Values are stored as {@code float[]}, the type
 * {@code db.create.setNodeVectorProperty} stores and vector indexes read.
 */
public class VectorWrite {

    private static final Label ENTITY = Label.label("Entity");

    @Context
    public Transaction tx;

    /** One row: how many of the batch's keys were found and written. */
    public static class WriteResult {
        public final long written;
        public final long missing;

        public WriteResult(long written, long missing) {
            this.written = written;
            this.missing = missing;
        }
    }

    @Procedure(name = "kgstore.writeVectors", mode = Mode.WRITE)
    @Description("kgstore.writeVectors(property, keys, vectors, dimension) - sets property to the float32 vector "
            + "(little-endian bytes, keys.size() * dimension values) on each (:Entity {key}); keys not in the "
            + "database are counted as missing. Runs in the caller's transaction.")
    public Stream<WriteResult> writeVectors(
            @Name("property") String property,
            @Name("keys") List<String> keys,
            @Name("vectors") byte[] vectors,
            @Name("dimension") long dimension) {
        if (property == null || property.isBlank()) {
            throw new IllegalArgumentException("kgstore.writeVectors: property must be a non-empty string");
        }
        if (keys == null || vectors == null) {
            throw new IllegalArgumentException("kgstore.writeVectors: keys and vectors must not be null");
        }
        if (dimension < 1 || dimension > 4096) {
            throw new IllegalArgumentException("kgstore.writeVectors: dimension " + dimension + " is outside 1..4096");
        }
        long expected = keys.size() * dimension * Float.BYTES;
        if (vectors.length != expected) {
            throw new IllegalArgumentException("kgstore.writeVectors: " + keys.size() + " keys of dimension "
                    + dimension + " need " + expected + " bytes, got " + vectors.length);
        }
        ByteBuffer buffer = ByteBuffer.wrap(vectors).order(ByteOrder.LITTLE_ENDIAN);
        int dim = (int) dimension;
        long written = 0;
        long missing = 0;
        for (String key : keys) {
            float[] vector = new float[dim];
            for (int i = 0; i < dim; i++) {
                float value = buffer.getFloat();
                if (!Float.isFinite(value)) {
                    throw new IllegalArgumentException(
                            "kgstore.writeVectors: the vector of " + key + " holds " + value);
                }
                vector[i] = value;
            }
            Node node = key == null ? null : tx.findNode(ENTITY, "key", key);
            if (node == null) {
                missing++;
                continue;
            }
            node.setProperty(property, vector);
            written++;
        }
        return Stream.of(new WriteResult(written, missing));
    }
}
