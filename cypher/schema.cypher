// kgstore schema: the constraints and indexes every kgstore graph needs.
// Idempotent (IF NOT EXISTS): `kgstore schema apply` runs it as often as you like.
// Statements end with a semicolon; lines starting with // are comments.

// Entities are keyed per dataset namespace ("fb15k-237:/m/027rn"), unique across the database.
CREATE CONSTRAINT entity_key IF NOT EXISTS
FOR (e:Entity) REQUIRE e.key IS UNIQUE;

// Images are content-addressed: one node per distinct file content.
CREATE CONSTRAINT image_sha256 IF NOT EXISTS
FOR (i:Image) REQUIRE i.sha256 IS UNIQUE;

// Trained models (vector write-back, predicted edges) are looked up by id.
CREATE CONSTRAINT model_id IF NOT EXISTS
FOR (m:KgModel) REQUIRE m.id IS UNIQUE;

// Which dataset an entity came from: snapshot export and `kgstore status` filter on it.
CREATE INDEX entity_dataset IF NOT EXISTS
FOR (e:Entity) ON (e.dataset);

// Look entities up by name in the Browser and in `kgstore nearest`.
CREATE INDEX entity_name IF NOT EXISTS
FOR (e:Entity) ON (e.name);

// Full-text search over names and descriptions.
CREATE FULLTEXT INDEX entity_text IF NOT EXISTS
FOR (e:Entity) ON EACH [e.name, e.description];

// Relation texts (labels, descriptions) per dataset namespace.
CREATE CONSTRAINT relation_key IF NOT EXISTS
FOR (r:KgRelation) REQUIRE r.key IS UNIQUE;

// One sync state per dataset namespace (fingerprint, committed triples) for resumable syncs.
CREATE CONSTRAINT sync_namespace IF NOT EXISTS
FOR (s:KgSync) REQUIRE s.namespace IS UNIQUE;

// Batches committed by a running or interrupted sync (deleted when it completes).
CREATE INDEX sync_batch_namespace IF NOT EXISTS
FOR (b:KgSyncBatch) ON (b.namespace);

// The sync generation counter (one node): every `kgstore sync` claims its next value.
CREATE CONSTRAINT sync_counter_name IF NOT EXISTS
FOR (c:KgSyncCounter) REQUIRE c.name IS UNIQUE;

// Entities written by a sync generation, and heads of facts it wrote: the incremental
// snapshot export reads only those newer than its snapshot's watermark.
CREATE INDEX entity_sync_gen IF NOT EXISTS
FOR (e:Entity) ON (e.sync_gen);

CREATE INDEX entity_facts_sync_gen IF NOT EXISTS
FOR (e:Entity) ON (e.facts_sync_gen);
