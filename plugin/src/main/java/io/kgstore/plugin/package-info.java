/**
 * Neo4j procedures and functions of the kgstore plugin, all under the {@code kgstore.*} namespace.
 *
 * <p>Conventions (as in APOC): one small class per procedure family, each procedure with an
 * explicit {@link org.neo4j.procedure.Mode} and a {@link org.neo4j.procedure.Description}, and
 * results returned as streams of records with public, documented fields.
 *
 * <p>Procedures: {@link io.kgstore.plugin.Version} ({@code kgstore.version()}); the ones backed by the HTTP
 * decoder sidecar: {@link io.kgstore.plugin.Score} ({@code kgstore.score()}), {@link io.kgstore.plugin.Predict}
 * ({@code kgstore.predict()}), {@link io.kgstore.plugin.Complete} ({@code kgstore.complete()}),
 * {@link io.kgstore.plugin.Describe} ({@code kgstore.describe()});
 * {@link io.kgstore.plugin.Nearest} ({@code kgstore.nearest()}), which reads the model's vector index; and the
 * bulk writes {@link io.kgstore.plugin.TripleWrite} ({@code kgstore.createTriples()}) and
 * {@link io.kgstore.plugin.VectorWrite} ({@code kgstore.writeVectors()}).
 *
 * <p>{@link io.kgstore.plugin.GraphNames} owns every label, relationship type and property name the plugin
 * uses (its Python twin is {@code kgstore/graph_names.py}).
 *
 * <p>Sidecar plumbing, one job per class: {@link io.kgstore.plugin.KgstoreConf} finds and caches
 * {@code kgstore.conf}, {@link io.kgstore.plugin.SidecarConfig} holds its values,
 * {@link io.kgstore.plugin.SidecarClient} does bounded HTTP calls with actionable errors,
 * {@link io.kgstore.plugin.SidecarApi} speaks the endpoints, {@link io.kgstore.plugin.Json} formats
 * bodies and error details, {@link io.kgstore.plugin.Options} checks config maps,
 * {@link io.kgstore.plugin.Entities} maps nodes to keys, {@link io.kgstore.plugin.EntityIndex} looks many
 * keys up through one index cursor, {@link io.kgstore.plugin.PredictedEdges} reads and writes
 * {@code KGSTORE_PREDICTED} edges.
 */
package io.kgstore.plugin;
