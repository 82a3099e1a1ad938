"""Mini-batch message passing: sampled ``L``-hop subgraphs around a batch's entities.

The sampling of PyG's ``NeighborLoader`` / ``LinkNeighborLoader`` (GraphSAGE style,
Hamilton et al. 2017, https://arxiv.org/abs/1706.02216): starting from the seed
entities, hop ``i`` keeps at most ``fanout[i]`` incoming edges of each frontier entity,
drawn uniformly with replacement and then deduplicated (an entity with at most
``fanout[i]`` in-edges keeps them all), and the entities those edges come from form the
next frontier. A step's subgraph therefore holds at most ``seeds x (f_0 + f_0 f_1 + ...)``
edges, whatever the size of the graph. When every fan-out covers the largest in-degree,
the subgraph holds every in-edge of every entity within ``L - 1`` hops of the seeds, and
an ``L``-layer R-GCN gives the seeds exactly their full-graph vectors (tested).

.. note:: Why not PyG's loaders themselves: with torch-geometric 2.8 on this project's
   torch (2.15), ``NeighborLoader`` raises ``ImportError: 'NeighborSampler' requires either
   'pyg-lib' or 'torch-sparse'`` (checked). pyg-lib publishes its wheels only on PyG's own
   index, not on PyPI, and torch-sparse is a source-only package on PyPI that compiles C++
   against the installed torch (long on a laptop, and each torch upgrade breaks it). This
   module samples the same way on a CSR of the message graph in plain torch (a few
   vectorised ops per hop), so ``pip install kgstore[train]`` is enough.
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
        # [E] scratch maps kept across calls and reset at the nodes a call touched, so that a
        # call's cost follows its subgraph, not the entity count
        self._local = torch.full((num_entities,), -1, dtype=torch.long)
        self._seen = torch.zeros(num_entities, dtype=torch.bool)

    def sample(self, seeds: Tensor, *, num_hops: int, fanout: int | list[int] | tuple[int, ...],
               generator: torch.Generator | None = None, with_hops: bool = False) -> tuple:
        """``(nodes [n], edge_index [2, m], edge_type [m])`` of the sampled subgraph.

        ``fanout`` gives the in-edges kept per entity at each hop, nearest hop first (one
        number: every hop; hops past the list's end reuse its last number). ``nodes``
        starts with the unique ``seeds`` in sorted order, followed by the entities each hop
        reached; ``edge_index`` holds local positions into ``nodes``. ``with_hops`` adds
        ``hops``: ``hops[k]`` = the entities within ``k`` hops (``num_hops + 1`` numbers), so
        the edges into ``nodes[:hops[k]]`` are those of the first ``k + 1`` hops
        (:meth:`trainer.encoders.rgcn.RGCNEncoder.forward` trims its layers by them).
        """
        fanouts = [fanout] if isinstance(fanout, int) else list(fanout)
        if not fanouts or min(fanouts) < 1:
            raise ValueError(f"fanout must be a positive number or a list of them, got {fanout!r}")
        nodes = torch.unique(seeds.cpu())
        frontier, edges, hops = nodes, [], [nodes.numel()]
        seen = self._seen
        seen[nodes] = True
        for depth in range(num_hops):
            width = fanouts[min(depth, len(fanouts) - 1)]
            degree = self.indptr[frontier + 1] - self.indptr[frontier]
            has = degree > 0
            frontier, degree = frontier[has], degree[has]
            if frontier.numel() == 0:
                break
            draws = torch.rand(frontier.numel(), width, generator=generator)
            picks = self.indptr[frontier][:, None] + (draws * degree[:, None]).long()
            few = degree <= width  # small neighbourhoods: take them whole
            whole = torch.repeat_interleave(self.indptr[frontier[few]], degree[few]) + (
                torch.arange(int(degree[few].sum())) -
                torch.repeat_interleave(degree[few].cumsum(0) - degree[few], degree[few]))
            kept = torch.unique(torch.cat([picks[~few].reshape(-1), whole]))
            edges.append(kept)
            new = torch.unique(self.src[kept])
            new = new[~seen[new]]
            seen[new] = True
            nodes = torch.cat([nodes, new])
            frontier = new
            hops.append(nodes.numel())
        edge_ids = torch.unique(torch.cat(edges)) if edges else torch.zeros(0, dtype=torch.long)
        self._local[nodes] = torch.arange(nodes.numel())
        edge_index = torch.stack([self._local[self.src[edge_ids]], self._local[self.dst[edge_ids]]])
        self._local[nodes] = -1
        seen[nodes] = False
        if not with_hops:
            return nodes, edge_index, self.edge_type[edge_ids]
        hops += [nodes.numel()] * (num_hops + 1 - len(hops))  # no frontier left: the last hops add nothing
        return nodes, edge_index, self.edge_type[edge_ids], hops
