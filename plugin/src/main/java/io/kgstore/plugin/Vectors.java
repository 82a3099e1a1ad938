package io.kgstore.plugin;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.UserFunction;

/**
 * Functions that make vector write-back cheap: {@code kgstore.floats(bytes)}.
 *
 * <p>A float32 vector sent as Bolt bytes costs 4 bytes per value instead of the 9 of a
 * Bolt float, and the driver packs one bytes value instead of hundreds of floats.
 * {@code db.create.setNodeVectorProperty(n, key, kgstore.floats($bytes))} then stores it.
 */
public class Vectors {

    @UserFunction(name = "kgstore.floats")
    @Description("kgstore.floats(bytes) - decodes little-endian float32 bytes into a list of floats "
            + "(for db.create.setNodeVectorProperty). Null in, null out.")
    public List<Double> floats(@Name("bytes") byte[] bytes) {
        if (bytes == null) {
            return null;
        }
        if (bytes.length % Float.BYTES != 0) {
            throw new IllegalArgumentException(
                    "kgstore.floats: " + bytes.length + " bytes is not a whole number of float32 values");
        }
        ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        List<Double> values = new ArrayList<>(bytes.length / Float.BYTES);
        while (buffer.hasRemaining()) {
            values.add((double) buffer.getFloat());
        }
        return values;
    }
}
