"""A write-back in a process of its own, for the tests that kill it with SIGKILL (tests/test_writeback.py).

    NEO4J_URI=... NEO4J_USERNAME=... NEO4J_PASSWORD=... python tests/writeback_child.py '<json>'

The JSON gives ``model``, ``keys`` (entities the test created), ``dim``, ``lease_ttl`` and
``mode``: ``slow`` writes batches of ``batch_size`` vectors with ``pause`` seconds after each
(so the test can kill it mid-write); ``hang_at_index`` writes everything, creates the vector
index and then waits forever instead of switching (so the test can kill it after that).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from kgstore import writeback
from kgstore.driver import connect


def main(config: dict) -> None:
    keys = config["keys"]
    vectors = np.random.default_rng(7).normal(size=(len(keys), config["dim"])).astype(np.float32)
    if config["mode"] == "hang_at_index":
        writeback.await_online = lambda *_, **__: time.sleep(3600)  # killed here, after CREATE VECTOR INDEX
        on_batch = None
    else:
        def on_batch(_: int) -> None:
            time.sleep(config["pause"])

    with connect() as graph:
        writeback.write_vectors(graph, config["model"], keys, vectors, batch_size=config["batch_size"],
                                on_batch=on_batch, lease_ttl=config["lease_ttl"])
    raise SystemExit("the write-back finished: the test meant to kill it first")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
