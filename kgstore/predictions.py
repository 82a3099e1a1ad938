"""Predicted edges: how a completion is stored so that it is never mistaken for a fact.

A prediction is a relationship of the single type ``KGSTORE_PREDICTED`` between two
entities, carrying the predicted ``relation`` name, its ``score``, the ``model`` id and
``created_at``. Facts use the relation itself as their type, so:

- snapshot export reads ``(:Entity)-[r]->(:Entity) WHERE type(r) <> 'KGSTORE_PREDICTED'``;
- the Browser shows predictions as one distinct relationship type;
- ``MATCH ()-[p:KGSTORE_PREDICTED]->() DELETE p`` removes them all.
"""

from __future__ import annotations

PREDICTED_TYPE = "KGSTORE_PREDICTED"
