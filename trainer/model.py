"""``KGModel``: an encoder (entity vectors) composed with a decoder (triple scores).

The model owns the message graph (training triples in both directions) as buffers that
are not part of ``state_dict``; the checkpoint stores it as ``graph.npy``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from trainer.config import TrainConfig
from trainer.decoders import Decoder, resolve_decoder
from trainer.encoders import RGCNEncoder


def message_graph(train_triples: np.ndarray, num_relations: int) -> tuple[Tensor, Tensor]:
    """``edge_index [2, 2N]`` and ``edge_type [2N]``: every triple forwards and inverted (type ``r + R``)."""
    triples = torch.as_tensor(np.asarray(train_triples), dtype=torch.long)
    h, r, t = triples.t()
    edge_index = torch.stack([torch.cat([h, t]), torch.cat([t, h])])
    edge_type = torch.cat([r, r + num_relations])
    return edge_index, edge_type


class KGModel(nn.Module):
    """Encoder + decoder. Relation ids ``0..R-1`` are the graph's; ``R..2R-1`` their inverses.

    Args:
        encoder: gives entity vectors (``RGCNEncoder``; 0 layers = plain embeddings).
        decoder: scores triples from entity vectors; it holds ``2 R`` relations when
            ``reciprocal`` and head queries ``(?, r, t)`` are then scored as ``(t, r + R, ?)``.
        num_relations: ``R``, the relations of the graph.
        reciprocal: see above.
        dropout: dropout on the query entity vector during training.
    """

    def __init__(self, *, encoder: RGCNEncoder, decoder: Decoder, num_relations: int, reciprocal: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__()
        expected = 2 * num_relations if reciprocal else num_relations
        if decoder.num_relations != expected:
            raise ValueError(f"decoder has {decoder.num_relations} relations, expected {expected} "
                             f"({num_relations} relations, reciprocal={reciprocal})")
        self.encoder, self.decoder = encoder, decoder
        self.num_relations, self.reciprocal = num_relations, reciprocal
        self.query_dropout = nn.Dropout(dropout)
        self.register_buffer("edge_index", torch.empty(2, 0, dtype=torch.long), persistent=False)
        self.register_buffer("edge_type", torch.empty(0, dtype=torch.long), persistent=False)

    @classmethod
    def from_config(cls, config: TrainConfig, *, num_entities: int, num_relations: int,
                    modality_dims: dict[str, int] | None = None) -> KGModel:
        """Build the model a ``TrainConfig`` describes.

        With ``config.modalities`` the entity input is
        :class:`~trainer.encoders.multimodal.MultimodalFeatures`; ``modality_dims`` gives
        each modality's raw feature width (from the encoders, or a checkpoint's
        ``modalities.json``).
        """
        features = None
        if config.modalities:
            from trainer.encoders.multimodal import MultimodalFeatures

            missing = [m for m in config.modalities if m not in (modality_dims or {})]
            if missing:
                raise ValueError(f"the config has modalities {config.modalities} but no feature width for {missing}")
            features = MultimodalFeatures(num_entities=num_entities, dim=config.dim,
                                          modality_dims={m: modality_dims[m] for m in config.modalities},
                                          fusion=config.fusion, modality_share=config.modality_share)
        encoder = RGCNEncoder(num_entities=num_entities, num_relations=2 * num_relations, dim=config.dim,
                              num_layers=config.num_layers, num_bases=config.num_bases,
                              num_blocks=config.num_blocks, dropout=config.dropout, features=features,
                              **config.encoder_kwargs)
        decoder = resolve_decoder(config.decoder, num_relations=(2 if config.reciprocal else 1) * num_relations,
                                  dim=config.dim, **config.decoder_kwargs)
        return cls(encoder=encoder, decoder=decoder, num_relations=num_relations, reciprocal=config.reciprocal,
                   dropout=config.dropout)

    @property
    def num_entities(self) -> int:
        return self.encoder.num_entities

    def set_graph(self, train_triples: np.ndarray) -> None:
        """Use ``train_triples`` ``[N, 3]`` (and their inverses) as the message graph."""
        edge_index, edge_type = message_graph(train_triples, self.num_relations)
        device = self.edge_index.device
        self.edge_index, self.edge_type = edge_index.to(device), edge_type.to(device)
        if hasattr(self.encoder.features, "set_degrees"):  # multimodal: entities without edges use modalities only
            degree = torch.bincount(edge_index[0], minlength=self.num_entities)
            self.encoder.features.set_degrees(degree > 0)

    def parameter_groups(self, *, lr: float, modality_lr: float) -> list[dict]:
        """Optimiser groups: the fusion's shared modality heads at ``modality_lr``, the rest at ``lr``.

        Why two rates: Adagrad at the large-graph rate (0.1) suits per-entity rows, each touched
        by few steps, but the text/image projection is one dense matrix that every step updates;
        at that rate it outgrows the structural vectors and the model collapses onto the
        low-rank text subspace (UMLS +text fell from 0.87 to 0.52 MRR, measured).
        """
        features = self.encoder.features
        heads = [p for name, p in features.named_parameters() if not name.startswith("structure")] \
            if hasattr(features, "modalities") else []
        ids = {id(p) for p in heads}
        rest = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": rest, "lr": lr}] + ([{"params": heads, "lr": modality_lr}] if heads else [])

    def entity_tables(self) -> list[nn.Embedding]:
        """The encoder's per-entity tables (one row per entity): the structural embedding."""
        return [m for m in self.encoder.features.modules() if isinstance(m, nn.Embedding)]

    def use_sparse_entity_gradients(self, sparse: bool = True) -> list[nn.Parameter]:
        """Make the entity tables' gradients sparse (only the rows a step looked up); their weights.

        For steps on sampled subgraphs: a dense gradient is as large as the table, and so is
        every optimiser step over it, whatever the batch, so a step's cost would grow with
        the number of entities (issue 16). The weights and the forward pass do not change.
        """
        tables = self.entity_tables()
        for table in tables:
            table.sparse = sparse
        return [table.weight for table in tables]

    def entity_vectors(self) -> Tensor:
        """Encoder output ``[E, dim]`` for all entities over the full message graph."""
        ids = torch.arange(self.num_entities, device=self.edge_index.device)
        if self.encoder.needs_graph and self.edge_index.size(1) == 0:
            raise RuntimeError("this model has R-GCN layers but no message graph: call set_graph(train_triples)")
        return self.encoder(ids, self.edge_index, self.edge_type)

    def score_candidates(self, query: Tensor, relation: Tensor, candidates: Tensor) -> Tensor:
        """Scores ``[B, C]`` of queries given as vectors ``query`` ``[B, dim]`` and ids ``relation`` ``[B]``.

        ``relation < R`` asks for tails ``(q, r, ?)``; ``relation >= R`` asks for heads
        ``(?, r - R, q)`` (through the reciprocal relation's vector when ``reciprocal``).
        ``candidates`` ``[C, dim]`` are the answer vectors.
        """
        if self.reciprocal:
            return self.decoder.score_all_tails(query, relation, candidates)
        inverse = relation >= self.num_relations
        if not bool(inverse.any()):
            return self.decoder.score_all_tails(query, relation, candidates)
        out = torch.empty(query.size(0), candidates.size(0), device=query.device, dtype=candidates.dtype)
        forward = ~inverse
        out[forward] = self.decoder.score_all_tails(query[forward], relation[forward], candidates).to(out.dtype)
        out[inverse] = self.decoder.score_all_heads(relation[inverse] - self.num_relations, query[inverse],
                                                    candidates).to(out.dtype)
        return out

    def regularization(self, query: Tensor, relation: Tensor, answer: Tensor) -> Tensor:
        """The decoder's N3 penalty on query/answer vectors (relation ids as in ``score_candidates``)."""
        if self.reciprocal:
            return self.decoder.regularization(query, relation, answer)
        inverse = relation >= self.num_relations
        return self.decoder.regularization(torch.where(inverse[:, None], answer, query),
                                           torch.where(inverse, relation - self.num_relations, relation),
                                           torch.where(inverse[:, None], query, answer))

    # -- scoring by entity id (evaluation, serving) --------------------------------------
    def score(self, h: Tensor, r: Tensor, t: Tensor, entities: Tensor | None = None) -> Tensor:
        """Scores ``[B]`` of id triples; ``entities`` = precomputed ``entity_vectors()``."""
        x = self.entity_vectors() if entities is None else entities
        return self.decoder.score(x[h], r, x[t])

    def score_tails(self, h: Tensor, r: Tensor, entities: Tensor | None = None) -> Tensor:
        """Scores ``[B, E]`` of ``(h, r, ?)`` for every entity."""
        x = self.entity_vectors() if entities is None else entities
        return self.decoder.score_all_tails(x[h], r, x)

    def score_heads(self, r: Tensor, t: Tensor, entities: Tensor | None = None) -> Tensor:
        """Scores ``[B, E]`` of ``(?, r, t)`` for every entity (via ``r^-1`` when reciprocal)."""
        x = self.entity_vectors() if entities is None else entities
        if self.reciprocal:
            return self.decoder.score_all_tails(x[t], r + self.num_relations, x)
        return self.decoder.score_all_heads(r, x[t], x)
