package io.kgstore.plugin;

import static io.kgstore.plugin.GraphNames.ENTITY;
import static io.kgstore.plugin.GraphNames.ENTITY_KEY;

import org.neo4j.exceptions.KernelException;
import org.neo4j.graphdb.MultipleFoundException;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Transaction;
import org.neo4j.internal.kernel.api.IndexQueryConstraints;
import org.neo4j.internal.kernel.api.IndexReadSession;
import org.neo4j.internal.kernel.api.InternalIndexState;
import org.neo4j.internal.kernel.api.NodeValueIndexCursor;
import org.neo4j.internal.kernel.api.PropertyIndexQuery;
import org.neo4j.internal.kernel.api.TokenRead;
import org.neo4j.internal.schema.IndexDescriptor;
import org.neo4j.internal.schema.IndexType;
import org.neo4j.internal.schema.SchemaDescriptors;
import org.neo4j.kernel.api.KernelTransaction;
import org.neo4j.kernel.impl.coreapi.InternalTransaction;
import org.neo4j.token.api.TokenConstants;

/**
 * Many {@code (:Entity {key})} lookups in one procedure call, through the kernel's range index on
 * {@code :Entity(key)} with one cursor.
 *
 * <p>Why not {@link Transaction#findNode}: each call searches the schema for a usable index, opens a
 * read session and allocates a cursor before the seek itself; a profile of {@code kgstore.writeVectors}
 * and {@code kgstore.predict} put half of their time there. This class does that once per call.
 * Without an online range index on {@code :Entity(key)} (a database kgstore has not set up) it falls
 * back to {@code findNode}, which scans the label.
 *
 * <p>It uses the kernel API ({@code org.neo4j.internal.kernel.api}), which the plugin pins to the
 * Neo4j version it is built against. The transaction's own uncommitted changes are seen, as
 * {@code findNode} sees them.
 */
final class EntityIndex implements AutoCloseable {

    static final long NONE = -1;

    private final Transaction tx;
    private final KernelTransaction ktx;
    private final int keyProperty;
    private final IndexReadSession session;
    private final NodeValueIndexCursor cursor;
    private final boolean unique;

    EntityIndex(Transaction tx) {
        this.tx = tx;
        this.ktx = ((InternalTransaction) tx).kernelTransaction();
        TokenRead tokens = ktx.tokenRead();
        int label = tokens.nodeLabel(ENTITY.name());
        this.keyProperty = tokens.propertyKey(ENTITY_KEY);
        IndexDescriptor index = IndexDescriptor.NO_INDEX;
        if (label != TokenConstants.NO_TOKEN && keyProperty != TokenConstants.NO_TOKEN) {
            index = ktx.schemaRead().index(SchemaDescriptors.forLabel(label, keyProperty), IndexType.RANGE);
        }
        IndexReadSession opened = null;
        try {
            if (index != IndexDescriptor.NO_INDEX
                    && ktx.schemaRead().indexGetState(index) == InternalIndexState.ONLINE) {
                opened = ktx.dataRead().indexReadSession(index);
            }
        } catch (KernelException e) {
            opened = null; // dropped meanwhile: findNode still answers
        }
        this.session = opened;
        this.unique = index != IndexDescriptor.NO_INDEX && index.isUnique();
        this.cursor = opened == null ? null
                : ktx.cursors().allocateNodeValueIndexCursor(ktx.cursorContext(), ktx.memoryTracker());
    }

    /** True when no {@code :Entity} node or no {@code key} property exists at all: every lookup misses. */
    boolean empty() {
        return keyProperty == TokenConstants.NO_TOKEN;
    }

    /** The id of the (:Entity {key}) node, or {@link #NONE}; two nodes with the key are an error. */
    long nodeId(String key) {
        if (key == null || empty()) {
            return NONE;
        }
        if (session == null) {
            try {
                Node node = tx.findNode(ENTITY, ENTITY_KEY, key);
                return node == null ? NONE : node.getId();
            } catch (MultipleFoundException e) {
                throw Entities.notUnique(key);
            }
        }
        try {
            ktx.dataRead().nodeIndexSeek(ktx.queryContext(), session, cursor, IndexQueryConstraints.unconstrained(),
                    PropertyIndexQuery.exact(keyProperty, key));
        } catch (KernelException e) {
            throw new KgstoreException("looking up " + Entities.pattern(key) + " failed: " + e.getMessage());
        }
        if (!cursor.next()) {
            return NONE;
        }
        long id = cursor.nodeReference();
        if (!unique && cursor.next()) {
            throw Entities.notUnique(key);
        }
        return id;
    }

    /** The (:Entity {key}) node, or null when the database does not have it. */
    Node node(String key) {
        long id = nodeId(key);
        return id == NONE ? null : tx.getNodeById(id);
    }

    KernelTransaction kernelTransaction() {
        return ktx;
    }

    @Override
    public void close() {
        if (cursor != null) {
            cursor.close();
        }
    }
}
