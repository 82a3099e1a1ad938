package io.kgstore.plugin;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.stream.Stream;
import org.neo4j.exceptions.KernelException;
import org.neo4j.graphdb.Transaction;
import org.neo4j.internal.kernel.api.Write;
import org.neo4j.kernel.api.KernelTransaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;
import org.neo4j.values.storable.Values;

/**
 * Bulk vector write-back: {@code kgstore.writeVectors(property, keys, vectors, dimension)}.
 *
 * <p>One call carries a whole batch (thousands of keys and one float32 blob), so the cost per
 * vector is an index lookup and a property write through the kernel API, not a Cypher row with a
 * map and a list of boxed floats. Values are stored as {@code float[]}, the type
 * {@code db.create.setNodeVectorProperty} stores and vector indexes read.
 */
public class VectorWrite {

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
            // Declared as ANY, not byte[]: Cypher has no byte-array type, so a byte[] parameter is coerced
            // to a list of integers and back, one boxed value per byte (a quarter of the call's time).
            @Name("vectors") Object vectors,
            @Name("dimension") long dimension) {
        if (property == null || property.isBlank()) {
            throw new IllegalArgumentException("kgstore.writeVectors: property must be a non-empty string");
        }
        if (keys == null || vectors == null) {
            throw new IllegalArgumentException("kgstore.writeVectors: keys and vectors must not be null");
        }
        if (!(vectors instanceof byte[] bytes)) {
            throw new IllegalArgumentException("kgstore.writeVectors: vectors must be bytes (little-endian float32), "
                    + "got " + vectors.getClass().getSimpleName());
        }
        if (dimension < 1 || dimension > 4096) {
            throw new IllegalArgumentException("kgstore.writeVectors: dimension " + dimension + " is outside 1..4096");
        }
        long expected = keys.size() * dimension * Float.BYTES;
        if (bytes.length != expected) {
            throw new IllegalArgumentException("kgstore.writeVectors: " + keys.size() + " keys of dimension "
                    + dimension + " need " + expected + " bytes, got " + bytes.length);
        }
        FloatBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        int dim = (int) dimension;
        long written = 0;
        long missing = 0;
        try (EntityIndex entities = new EntityIndex(tx)) {
            KernelTransaction ktx = entities.kernelTransaction();
            int propertyKey = ktx.tokenWrite().propertyKeyGetOrCreateForName(property);
            Write write = ktx.dataWrite();
            for (String key : keys) {
                float[] vector = new float[dim];
                buffer.get(vector);
                for (float value : vector) {
                    if (!Float.isFinite(value)) {
                        throw new IllegalArgumentException(
                                "kgstore.writeVectors: the vector of " + key + " holds " + value);
                    }
                }
                long node = entities.nodeId(key);
                if (node == EntityIndex.NONE) {
                    missing++;
                    continue;
                }
                write.nodeSetProperty(node, propertyKey, Values.floatArray(vector));
                written++;
            }
        } catch (KernelException e) {
            throw new KgstoreException("kgstore.writeVectors: " + e.getMessage());
        }
        return Stream.of(new WriteResult(written, missing));
    }
}
