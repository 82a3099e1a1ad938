"""The names kgstore gives things in Neo4j: labels, relationship types, KgModel fields.

One owner for every name that Python code, Cypher files and the plugin must agree on.
Its Java twin is ``io.kgstore.plugin.GraphNames`` (plugin/); the two must say the same
(``tests/test_graph_names.py`` compares them). Plain strings only: importing this module
costs nothing, so the importers, the export and the OGM all take their names from here.
"""

from __future__ import annotations

# Labels.
ENTITY = "Entity"  # (:Entity {key}) — every entity, whatever its other labels
IMAGE = "Image"  # (:Image {sha256, mime, width, height, uri}) — content-addressed image files
KG_RELATION = "KgRelation"  # (:KgRelation {key}) — a relation's own text (label, description)
KG_MODEL = "KgModel"  # (:KgModel {id}) — one trained model and its current vector version
# A generated image is an :Image too (same content-addressed store, same sha256 constraint)
# with this second label, so the Browser's style and any query can tell it from a real one.
GENERATED_IMAGE = "GeneratedImage"  # (:Image:GeneratedImage {sha256, ..., generated: true, model, version, seed})

# Relationship types that are never facts (export, training and evaluation skip them).
HAS_IMAGE = "HAS_IMAGE"  # (:Entity)-[:HAS_IMAGE]->(:Image)
PREDICTED = "KGSTORE_PREDICTED"  # (h)-[:KGSTORE_PREDICTED {relation, score, model, version, created_at}]->(t)
GENERATED = "KGSTORE_GENERATED"  # (:Entity)-[:KGSTORE_GENERATED]->(:Image:GeneratedImage)
NOT_FACTS = (PREDICTED, HAS_IMAGE, GENERATED)

# Properties.
ENTITY_KEY = "key"  # the :Entity(key) uniqueness constraint's property
SPLIT = "split"  # a fact's split: train, valid or test
PREDICTED_FIELDS = ("relation", "score", "model", "version", "created_at")
IMAGE_SHA256 = "sha256"
GENERATED_FLAG = "generated"  # true on every generated :Image; export and the feature cache never read those
GENERATED_FIELDS = ("mime", "width", "height", "uri", "model", "version", "seed", "created_at")
# A generated description sits on its entity beside (never instead of) `description`, which
# stays the graph's own text: the export and the text features read `description` only.
GENERATED_DESCRIPTION = "generated_description"
GENERATED_DESCRIPTION_FIELDS = ("generated_description_model", "generated_description_version",
                                "generated_description_generator", "generated_description_at")

# The KgModel node: which version of a model's vectors is current, and where it lives.
MODEL_ID = "id"
MODEL_VERSION = "version"  # the current version (readers follow it)
MODEL_LATEST_VERSION = "latest_version"  # the last version number claimed by a write-back
MODEL_PROPERTY = "property"  # the :Entity property holding the current entity vectors
MODEL_INDEX = "index"  # the vector index over it
MODEL_DIMENSION = "dimension"
MODEL_SIMILARITY = "similarity"
MODEL_VECTORS = "vectors"  # how many entities got a vector
MODEL_MODALITY_VECTORS = "modality_vectors"  # modalities with their own property and index in this version
MODEL_WRITTEN_AT = "written_at"
MODEL_META_PREFIX = "meta_"  # meta_checkpoint, meta_decoder, meta_test_mrr, ...

# Sync generations (kgstore.sync, trainer.export's incremental re-export): every sync run
# claims the next value of one counter, and stamps what it creates or changes with it.
SYNC_COUNTER = "KgSyncCounter"  # (:KgSyncCounter {name: "sync", value}) — the last generation claimed
SYNC_COUNTER_NAME = "sync"  # the counter node's name (its uniqueness constraint's property is `name`)
SYNC_COUNTER_ID = "id"  # a random id given when the counter is created: a wiped and re-synced graph has another
SYNC_GEN = "sync_gen"  # on an :Entity the sync wrote or changed, on a fact it created or changed,
# and on the :KgSync node of the run (the generation it claimed)
FACTS_SYNC_GEN = "facts_sync_gen"  # on an :Entity: the last generation that created or changed one of its
# outgoing facts (written only where the head itself was not new in that generation)

# Write-back leases: a live write-back (or collector) holds one per model version it works
# on, renewed by a heartbeat; `kgstore models gc` drops versions that are neither current
# nor leased (kgstore.writeback).
WRITE_LEASE = "KgWriteLease"  # (:KgWriteLease {model, version, holder, purpose, expires_at})
LEASE_MODEL = "model"
LEASE_VERSION = "version"
LEASE_HOLDER = "holder"  # <host>:<pid>:<random>, one per write-back or collector
LEASE_PURPOSE = "purpose"  # "write" or "drop"
LEASE_EXPIRES_AT = "expires_at"  # server time; renewed by the holder's heartbeat

# Vector properties and indexes of model versions (see kgstore.writeback.ModelVersion).
VECTOR_PROPERTY_PREFIX = "embedding_"  # embedding_<model>_v<n>[_<modality>]
VECTOR_INDEX_PREFIX = "kgstore_"  # kgstore_<model>_v<n>[_<modality>]

# The fewest candidates a nearest-neighbour query asks of the vector index: its HNSW
# search keeps as many as it is asked for, so asking for 100 and keeping k buys recall
# (recall@10 on 100,000 random vectors of dim 128: 0.39 asking for 10, 0.76 asking for
# 100; bench/writeback_bench.py). kgstore.nearest in the plugin uses the same width.
SEARCH_WIDTH = 100
