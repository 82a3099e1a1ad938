"""R-GCN encoder: relational message passing over the knowledge graph.

Schlichtkrull et al., "Modeling Relational Data with Graph Convolutional Networks",
ESWC 2018, https://arxiv.org/abs/1703.06103, via PyG's ``RGCNConv``. One layer computes

.. math::

    \\mathbf{x}_i' = \\mathbf{W}_0 \\mathbf{x}_i + \\sum_{r} \\sum_{j \\in \\mathcal{N}_r(i)}
    \\frac{1}{|\\mathcal{N}_r(i)|} \\mathbf{W}_r \\mathbf{x}_j

where :math:`\\mathbf{W}_0` is the self-loop ("root") weight. The relation weights are
regularised by *basis decomposition* :math:`\\mathbf{W}_r = \\sum_b a_{rb} \\mathbf{V}_b`
(``num_bases``) or *block-diagonal decomposition* (``num_blocks``), never both.

The message graph holds every training triple in both directions: ``(h, r, t)`` as an
edge ``h -> t`` of type ``r`` and as ``t -> h`` of type ``r + R`` (inverse relations), so
``num_relations`` here is ``2 R``. ``num_layers = 0`` skips message passing: the encoder
returns the entity features, i.e. a plain knowledge-graph embedding model.

.. note:: ``conv="rgcn"`` (default) uses PyG's ``RGCNConv``, which loops over the
   relations: with basis decomposition kgstore computes the same layer per *basis* instead
   (:class:`BasisRGCNConv`, below), which is far faster when there are many relations;
   ``conv="fast"`` (``FastRGCNConv``) materialises one weight matrix per edge, faster on
   small graphs, memory-bound on large ones.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import FastRGCNConv, RGCNConv

from trainer.encoders.features import EmbeddingFeatures, EntityFeatures


class BasisRGCNConv(RGCNConv):
    """PyG's ``RGCNConv`` with basis decomposition and mean aggregation, computed per basis.

    ``RGCNConv`` runs one message-passing round per relation (474 on FB15k-237 with
    inverse edges, each forward and backward), so on a small graph its time is Python
    overhead and on a large one it is the same gather repeated per relation. With
    :math:`\\mathbf{W}_r = \\sum_b a_{rb} \\mathbf{V}_b` the layer regroups exactly as

    .. math::

        \\mathbf{x}_i' = \\mathbf{W}_0 \\mathbf{x}_i + \\mathbf{b} + \\sum_b \\mathbf{V}_b
        \\sum_{(j, r) \\to i} \\frac{a_{rb}}{|\\mathcal{N}_r(i)|} \\mathbf{x}_j

    one mean per (node, relation) group, one weighted scatter over the bases and one
    matrix product, whatever the number of relations. Parameters, initialisation and
    ``state_dict`` are ``RGCNConv``'s own (a checkpoint loads into either), and the output
    is the same up to float rounding (tested).
    Anything else (tuple or index inputs, ``SparseTensor`` adjacency) goes to ``RGCNConv``.
    """

    def forward(self, x: Tensor | tuple[Tensor, Tensor], edge_index: Tensor,  # type: ignore[override]
                edge_type: Tensor | None = None) -> Tensor:
        """``x``: node vectors, or ``(sources, targets)`` vectors when only the first targets' outputs are needed."""
        x_source, x_target = x if isinstance(x, tuple) else (x, x)
        if (self.num_bases is None or self.aggr != "mean" or not isinstance(x_source, Tensor)
                or not isinstance(x_target, Tensor) or not torch.is_floating_point(x_source)
                or not isinstance(edge_index, Tensor) or edge_type is None):
            return super().forward(x, edge_index, edge_type)
        source, target = edge_index[0], edge_index[1]
        # The edges of one relation into one node form a group, and the layer averages over
        # each group; real graphs have 5-7x fewer groups than edges (UMLS, Kinships, CoDEx-S),
        # so the mean is taken once per group and only the groups are weighted per basis.
        groups, group_of_edge, group_size = torch.unique(target * self.num_relations + edge_type,
                                                         return_inverse=True, return_counts=True)
        features = x_source.float()  # sums in float32, also under autocast
        group_mean = features.new_zeros((groups.numel(), features.size(1))).index_add_(
            0, group_of_edge, features.index_select(0, source)) / group_size.unsqueeze(1)
        basis_weight = self.comp[groups % self.num_relations]  # [groups, bases]
        group_target = groups // self.num_relations
        shape = (x_target.size(0), features.size(1))
        aggregated = torch.stack([  # [targets, bases, in], one [groups, in] product at a time
            features.new_zeros(shape).index_add_(0, group_target, group_mean * basis_weight[:, b:b + 1])
            for b in range(self.num_bases)], dim=1)
        out = aggregated.view(shape[0], -1) @ self.weight.view(-1, self.out_channels)
        out = out + x_target @ self.root
        return out + self.bias if self.bias is not None else out


class RGCNEncoder(nn.Module):
    """Entity features followed by ``num_layers`` R-GCN layers (ReLU + dropout between them).

    Args:
        num_entities: entities in the graph.
        num_relations: edge types of the message graph (``2 R`` with inverse edges).
        dim: width of the features and of every layer.
        num_layers: R-GCN layers; 0 gives plain embeddings (default 1).
        num_bases: basis decomposition with this many bases (default None).
        num_blocks: block-diagonal decomposition with this many blocks (default None).
        dropout: dropout on the input features and between layers (default 0.0).
        conv: ``"rgcn"`` (``RGCNConv``, default) or ``"fast"`` (``FastRGCNConv``).
        residual: add each layer's input to its output (``x + layer(x)``). The encoder then
            starts as the plain embedding model and the messages learn a correction to it,
            instead of having to rebuild each entity's own vector through the root weight;
            on small dense graphs (UMLS) that is what lets R-GCN match a plain decoder.
        features: the entity input module; default a learnable embedding per entity.
    """

    def __init__(
        self,
        *,
        num_entities: int,
        num_relations: int,
        dim: int,
        num_layers: int = 1,
        num_bases: int | None = None,
        num_blocks: int | None = None,
        dropout: float = 0.0,
        conv: str = "rgcn",
        residual: bool = False,
        features: EntityFeatures | None = None,
    ) -> None:
        super().__init__()
        if num_bases is not None and num_blocks is not None:
            raise ValueError("R-GCN takes num_bases or num_blocks, not both: pick one decomposition")
        if num_blocks is not None and dim % num_blocks:
            raise ValueError(f"dim ({dim}) must be divisible by num_blocks ({num_blocks})")
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        if conv not in ("rgcn", "fast"):
            raise ValueError(f"conv must be 'rgcn' or 'fast', got {conv!r}")
        self.num_entities, self.num_relations, self.dim = num_entities, num_relations, dim
        self.num_layers, self.num_bases, self.num_blocks, self.conv = num_layers, num_bases, num_blocks, conv
        self.residual = residual
        self.features = features if features is not None else EmbeddingFeatures(num_entities=num_entities, dim=dim)
        if self.features.dim != dim:
            raise ValueError(f"features give {self.features.dim}-wide vectors, the encoder expects {dim}")
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList()
        if num_layers:
            layer_cls = FastRGCNConv if conv == "fast" else BasisRGCNConv if num_bases else RGCNConv
            for _ in range(num_layers):
                self.layers.append(layer_cls(dim, dim, num_relations, num_bases=num_bases,
                                             num_blocks=num_blocks, aggr="mean", root_weight=True, bias=True))

    @property
    def needs_graph(self) -> bool:
        return self.num_layers > 0

    def forward(self, entity_ids: Tensor, edge_index: Tensor | None = None, edge_type: Tensor | None = None,
                hops: list[int] | None = None) -> Tensor:
        """Vectors ``[n, dim]`` for ``entity_ids`` ``[n]`` (``[hops[0], dim]`` with ``hops``).

        ``edge_index`` (``[2, m]``, local positions into ``entity_ids``) and ``edge_type``
        (``[m]``) are the message graph among those entities; required when
        ``num_layers > 0``.

        ``hops`` (a sampled subgraph, :meth:`trainer.sampling.NeighborSampler.sample`):
        ``entity_ids`` are ordered by hop from the seeds and ``hops[k]`` entities lie within
        ``k`` hops. Only the seeds' vectors are then computed: layer ``i`` of ``L`` outputs
        the entities within ``L - 1 - i`` hops, from the edges into them (PyG's
        ``trim_to_layer``), which are the vectors the seeds' outputs depend on; the entities
        of the outer hop are looked up, not transformed.
        """
        x = self.features(entity_ids)
        if not self.layers:
            return x if hops is None else x[:hops[0]]
        if edge_index is None or edge_type is None:
            raise ValueError("an R-GCN encoder with layers needs edge_index and edge_type")
        x = self.dropout(x)
        for i, layer in enumerate(self.layers):
            if hops is None:
                x = x + layer(x, edge_index, edge_type) if self.residual else layer(x, edge_index, edge_type)
            else:
                targets = hops[min(len(self.layers) - 1 - i, len(hops) - 1)]
                into = edge_index[1] < targets
                out = layer((x, x[:targets]), edge_index[:, into], edge_type[into])
                x = x[:targets] + out if self.residual else out
            if i < len(self.layers) - 1:
                x = self.dropout(x.relu())
        return x

    def extra_repr(self) -> str:
        return (f"num_layers={self.num_layers}, num_bases={self.num_bases}, num_blocks={self.num_blocks}, "
                f"conv={self.conv!r}, residual={self.residual}")
