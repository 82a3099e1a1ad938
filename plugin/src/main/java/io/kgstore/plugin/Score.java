package io.kgstore.plugin;

import org.neo4j.graphdb.Node;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.TerminationGuard;
import org.neo4j.procedure.UserFunction;

/** {@code kgstore.score(head, relation, tail)}: the model's score of one triple, from the sidecar. */
public class Score {

    static final String NAME = "kgstore.score";

    @Context
    public GraphDatabaseAPI db;

    @Context
    public TerminationGuard guard;

    @UserFunction(name = NAME)
    @Description("kgstore.score(head, relation, tail) - the kgstore model's score for (head)-[relation]->(tail), "
            + "asked from the kgstore sidecar by the nodes' `key` properties (higher is more plausible). "
            + "Null head, relation or tail gives null. One HTTP call per invocation.")
    public Double score(@Name("head") Node head, @Name("relation") String relation, @Name("tail") Node tail) {
        if (head == null || relation == null || tail == null) {
            return null;
        }
        String headKey = Entities.keyOf(NAME, "head", head);
        String tailKey = Entities.keyOf(NAME, "tail", tail);
        Entities.relation(NAME, relation);
        return new SidecarApi(new SidecarClient(KgstoreConf.current(db), guard)).score(headKey, relation, tailKey);
    }
}
