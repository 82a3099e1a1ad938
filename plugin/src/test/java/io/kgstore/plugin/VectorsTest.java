package io.kgstore.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.junit.jupiter.api.Test;

class VectorsTest {

    private static byte[] encode(float... values) {
        ByteBuffer buffer = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            buffer.putFloat(v);
        }
        return buffer.array();
    }

    @Test
    void decodesLittleEndianFloat32() {
        assertEquals(List.of(1.0, -2.5, 0.125), new Vectors().floats(encode(1.0f, -2.5f, 0.125f)));
    }

    @Test
    void nullStaysNull() {
        assertNull(new Vectors().floats(null));
    }

    @Test
    void rejectsPartialValues() {
        IllegalArgumentException error =
                assertThrows(IllegalArgumentException.class, () -> new Vectors().floats(new byte[] {1, 2, 3}));
        assertEquals("kgstore.floats: 3 bytes is not a whole number of float32 values", error.getMessage());
    }
}
