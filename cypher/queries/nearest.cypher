// Nearest entities to one entity, through Neo4j's native vector index.
// The (:KgModel) node says which property and index hold the current version of a model,
// so this query keeps working when the model is retrained (v1 -> v2 switch is atomic).
// Parameters: $model (e.g. 'default'), $key (e.g. 'fb15k-237:/m/027rn'), $k (e.g. 10).
MATCH (m:KgModel {id: $model})
MATCH (e:Entity {key: $key})
CALL db.index.vector.queryNodes(m.index, $k + 1, e[m.property]) YIELD node, score
WHERE node <> e
RETURN node.key AS key, node.name AS name, score
ORDER BY score DESC
LIMIT $k;
