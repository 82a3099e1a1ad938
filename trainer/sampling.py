"""Mini-batch message passing: sampled ``L``-hop subgraphs around a batch's entities.

Equivalent to PyG's ``NeighborLoader`` / ``LinkNeighborLoader`` sampling (GraphSAGE
style, Hamilton et al. 2017): starting from the seed entities, each hop keeps at most
``fanout`` incoming edges per frontier entity, drawn uniformly with replacement and then
deduplicated. Implemented on a CSR of the message graph in plain torch, so it needs
neither ``pyg-lib`` nor ``torch-sparse`` (PyG's samplers require one of them).
"""

from __future__ import annotations

import torch
from torch import Tensor


class NeighborSampler:
    """Samples subgraphs of a message graph ``edge_index [2, M]`` (``src -> dst``) with ``edge_type [M]``."""

    def __init__(self, edge_index: Tensor, edge_type: Tensor, *, num_entities: int) -> None:
        edge_index, edge_type = edge_index.cpu(), edge_type.cpu()
        order = torch.argsort(edge_index[1], stable=True)
        self.src, self.dst, self.edge_type = edge_index[0][order], edge_index[1][order], edge_type[order]
        self.indptr = torch.zeros(num_entities + 1, dtype=torch.long)
        self.indptr[1:] = torch.bincount(self.dst, minlength=num_entities).cumsum(0)
        self.num_entities = num_entities
        self._local = torch.full((num_entities,), -1, dtype=torch.long)

    def sample(self, seeds: Tensor, *, num_hops: int, fanout: int,
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """``(nodes [n], edge_index [2, m], edge_type [m])`` of the sampled subgraph.

        ``nodes`` starts with the unique ``seeds`` in sorted order; ``edge_index`` holds
        local positions into ``nodes``.
        """
        nodes = torch.unique(seeds.cpu())
        frontier, edges = nodes, []
        seen = torch.zeros(self.num_entities, dtype=torch.bool)
        seen[nodes] = True
        for _ in range(num_hops):
            degree = self.indptr[frontier + 1] - self.indptr[frontier]
            has = degree > 0
            frontier, degree = frontier[has], degree[has]
            if frontier.numel() == 0:
                break
            draws = torch.rand(frontier.numel(), fanout, generator=generator)
            picks = self.indptr[frontier][:, None] + (draws * degree[:, None]).long()
            few = degree <= fanout  # small neighbourhoods: take them whole
            whole = torch.repeat_interleave(self.indptr[frontier[few]], degree[few]) + (
                torch.arange(int(degree[few].sum())) -
                torch.repeat_interleave(degree[few].cumsum(0) - degree[few], degree[few]))
            hop = torch.unique(torch.cat([picks[~few].reshape(-1), whole]))
            edges.append(hop)
            new = torch.unique(self.src[hop])
            new = new[~seen[new]]
            seen[new] = True
            nodes = torch.cat([nodes, new])
            frontier = new
        edge_ids = torch.unique(torch.cat(edges)) if edges else torch.zeros(0, dtype=torch.long)
        self._local[nodes] = torch.arange(nodes.numel())
        edge_index = torch.stack([self._local[self.src[edge_ids]], self._local[self.dst[edge_ids]]])
        self._local[nodes] = -1
        return nodes, edge_index, self.edge_type[edge_ids]
