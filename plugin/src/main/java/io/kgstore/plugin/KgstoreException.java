package io.kgstore.plugin;

/**
 * A kgstore failure whose message is meant for the Cypher user: it says what happened and what to check.
 * Neo4j reports it as a {@code Neo.ClientError.Procedure.ProcedureCallFailed} error that carries this message.
 *
 * <p>It deliberately has no cause: Neo4j shows the root cause of a procedure failure, so a cause (say a
 * {@code ClosedChannelException}) would hide this message. Put what matters about the cause into the message.
 */
public class KgstoreException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public KgstoreException(String message) {
        super(message);
    }
}
