package io.kgstore.plugin;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.neo4j.exceptions.KernelException;
import org.neo4j.graphdb.Transaction;
import org.neo4j.internal.kernel.api.TokenWrite;
import org.neo4j.internal.kernel.api.Write;
import org.neo4j.kernel.api.KernelTransaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;
import org.neo4j.values.storable.Value;
import org.neo4j.values.storable.Values;

/**
 * Bulk triple import: {@code kgstore.createTriples(heads, types, tails, properties)}.
 *
 * <p>What {@code kgstore sync} runs for a batch of new triples when the plugin is installed.
 * The Cypher it replaces ({@code UNWIND $rows AS row MATCH (h:Entity {key: row.h}) MATCH (t ...)
 * CREATE (h)-[e:$(row.r)]->(t) SET e = row.p}) spends most of its time per row in the runtime;
 * here each triple is two index seeks and one relationship write through the kernel API.
 * Relationship types are tokens looked up by name, so any relation string is stored verbatim and
 * nothing is ever spliced into a query.
 *
 * <p>Columns instead of rows: three lists of strings and one map of property columns decode far
 * faster from Bolt than a list of maps.
 */
public class TripleWrite {

    static final String NAME = "kgstore.createTriples";

    @Context
    public Transaction tx;

    /** One row: how many triples were created and how many were not, for a missing head or tail. */
    public static class CreateResult {
        public final long created;
        public final long missing;

        public CreateResult(long created, long missing) {
            this.created = created;
            this.missing = missing;
        }
    }

    @Procedure(name = NAME, mode = Mode.WRITE)
    @Description("kgstore.createTriples(heads, types, tails, properties = {}) - creates "
            + "(:Entity {key: heads[i]})-[:types[i]]->(:Entity {key: tails[i]}) for every i, with property p set to "
            + "properties[p][i] (null: not set). Triples whose head or tail is not in the database are counted as "
            + "missing, not created. Always creates: checking for existing relationships is the caller's job. "
            + "Runs in the caller's transaction.")
    public Stream<CreateResult> createTriples(
            @Name("heads") List<String> heads,
            @Name("types") List<String> types,
            @Name("tails") List<String> tails,
            @Name(value = "properties", defaultValue = "{}") Map<String, Object> properties) {
        if (heads == null || types == null || tails == null) {
            throw new IllegalArgumentException(NAME + ": heads, types and tails must not be null");
        }
        int size = heads.size();
        if (types.size() != size || tails.size() != size) {
            throw new IllegalArgumentException(NAME + ": heads, types and tails must have the same length, got "
                    + size + ", " + types.size() + " and " + tails.size());
        }
        Map<String, List<?>> columns = columns(properties == null ? Map.of() : properties, size);

        long created = 0;
        long missing = 0;
        try (EntityIndex entities = new EntityIndex(tx)) {
            KernelTransaction ktx = entities.kernelTransaction();
            TokenWrite tokens = ktx.tokenWrite();
            Write write = ktx.dataWrite();
            String[] names = columns.keySet().toArray(String[]::new);
            int[] keys = new int[names.length];
            List<?>[] values = new List<?>[names.length];
            for (int c = 0; c < names.length; c++) {
                keys[c] = tokens.propertyKeyGetOrCreateForName(names[c]);
                values[c] = columns.get(names[c]);
            }
            Map<String, Integer> typeIds = new HashMap<>();
            for (int i = 0; i < size; i++) {
                String type = Entities.relation(NAME, types.get(i));
                long head = entities.nodeId(heads.get(i));
                long tail = entities.nodeId(tails.get(i));
                if (head == EntityIndex.NONE || tail == EntityIndex.NONE) {
                    missing++;
                    continue;
                }
                Integer typeId = typeIds.get(type);
                if (typeId == null) {
                    typeId = tokens.relationshipTypeGetOrCreateForName(type);
                    typeIds.put(type, typeId);
                }
                long relationship = write.relationshipCreate(head, typeId, tail);
                for (int c = 0; c < names.length; c++) {
                    Object value = values[c].get(i);
                    if (value != null) {
                        write.relationshipSetProperty(relationship, keys[c], storable(names[c], value));
                    }
                }
                created++;
            }
        } catch (KernelException e) {
            throw new KgstoreException(NAME + ": " + e.getMessage());
        }
        return Stream.of(new CreateResult(created, missing));
    }

    /** The property columns, each checked to be a list of {@code size} values. */
    private static Map<String, List<?>> columns(Map<String, Object> properties, int size) {
        Map<String, List<?>> columns = new HashMap<>();
        for (Map.Entry<String, Object> column : properties.entrySet()) {
            if (!(column.getValue() instanceof List<?> list) || list.size() != size) {
                throw new IllegalArgumentException(NAME + ": properties." + column.getKey() + " must be a list of "
                        + size + " values (one per triple, null where unset)");
            }
            columns.put(column.getKey(), list);
        }
        return columns;
    }

    private static Value storable(String property, Object value) {
        Value stored;
        try {
            stored = Values.of(value instanceof List<?> list ? array(list) : value, false);
        } catch (IllegalArgumentException e) {
            stored = null;
        }
        if (stored == null) {
            throw new IllegalArgumentException(NAME + ": property " + property + " cannot store " + value + " ("
                    + value.getClass().getSimpleName() + "): use a string, number, boolean or a list of one of them");
        }
        return stored;
    }

    /** A list as the typed array Neo4j stores (strings, integers, floats or booleans), else the list itself. */
    private static Object array(List<?> list) {
        if (list.stream().allMatch(String.class::isInstance)) {
            return list.toArray(String[]::new);
        }
        if (list.stream().allMatch(Long.class::isInstance)) {
            return list.stream().mapToLong(Long.class::cast).toArray();
        }
        if (list.stream().allMatch(Number.class::isInstance)) {
            return list.stream().mapToDouble(v -> ((Number) v).doubleValue()).toArray();
        }
        if (list.stream().allMatch(Boolean.class::isInstance)) {
            boolean[] out = new boolean[list.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = (Boolean) list.get(i);
            }
            return out;
        }
        return list;
    }
}
