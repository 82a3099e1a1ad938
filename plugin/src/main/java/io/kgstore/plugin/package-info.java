/**
 * Neo4j procedures and functions of the kgstore plugin, all under the {@code kgstore.*} namespace.
 *
 * <p>Conventions (as in APOC): one small class per procedure family, each procedure with an
 * explicit {@link org.neo4j.procedure.Mode} and a {@link org.neo4j.procedure.Description}, and
 * results returned as streams of records with public, documented fields.
 *
 * <p>For now only {@link io.kgstore.plugin.Version} ({@code kgstore.version()}) lives here. The
 * procedures that call the HTTP decoder sidecar ({@code score}, {@code predict}, {@code complete},
 * {@code nearest}) will be added to this package as well.
 */
package io.kgstore.plugin;
