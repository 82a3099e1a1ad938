// Nearest entities to one entity, through Neo4j's native vector index.
// The (:KgModel) node says which property and index hold the current version of a model,
// so this query keeps working when the model is retrained (v1 -> v2 switch is atomic).
// Parameters: $model (e.g. 'default'), $key (e.g. 'fb15k-237:/m/027rn'), $k (e.g. 10).
MATCH (m:KgModel {id: $model})
MATCH (e:Entity {key: $key})
// The index is asked for at least 100: its HNSW search keeps as many candidates as it is
// asked for, so more candidates means better recall of the k kept.
CALL db.index.vector.queryNodes(m.index, CASE WHEN $k + 1 > 100 THEN $k + 1 ELSE 100 END, e[m.property])
  YIELD node, score
WHERE node <> e
RETURN node.key AS key, node.name AS name, score
ORDER BY score DESC
LIMIT $k;

// A model trained with --modalities text,image also has, per modality, the vectors of the
// entities' own texts and images in the same space (m.modality_vectors lists them); their
// property and index are the entity ones with the suffix _text or _image. Movies whose
// overview reads like this movie's overview ($key of an entity that has a text):
MATCH (m:KgModel {id: $model}) WHERE 'text' IN m.modality_vectors
MATCH (e:Entity {key: $key})
CALL db.index.vector.queryNodes(m.index + '_text', CASE WHEN $k + 1 > 100 THEN $k + 1 ELSE 100 END,
                                e[m.property + '_text'])
  YIELD node, score
WHERE node <> e
RETURN node.key AS key, node.name AS name, score
ORDER BY score DESC
LIMIT $k;
