"""``python -m kgstore.cli``: the same as the ``kgstore`` command (the detached sidecar runs this)."""

from kgstore.cli import main

main()
