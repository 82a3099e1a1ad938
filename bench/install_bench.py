"""First-install timing: Neo4j resolved by Maven into an EMPTY local repository and cache.

Runs ``resolve_distribution`` (what ``kgstore server install`` does before it lays out the
home) in a child process whose Maven local repository (``-Dmaven.repo.local`` through
``MAVEN_OPTS``) and kgstore Neo4j cache are new temporary folders, so nothing is shared
with ``~/.m2`` or ``~/.cache``, and prints the seconds, what Maven fetched and what it
produced. Both folders are deleted afterwards unless ``--keep``.

Examples::

    python bench/install_bench.py                         # newest 5.26 patch
    python bench/install_bench.py --neo4j-version latest  # newest calendar release
    KGSTORE_MAVEN=system python bench/install_bench.py    # the mvn on PATH, whatever its version
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHILD = """
import sys
from kgstore.server.neo4j_dist import resolve_distribution
dist = resolve_distribution(sys.argv[1] if sys.argv[1] != "-" else None, progress=False)
print("DIST", dist.path)
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--neo4j-version", default=None, help="as `kgstore server install --neo4j-version`")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository and cache")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    from kgstore.server.prerequisites import check_maven, maven_version

    work = Path(tempfile.mkdtemp(prefix="kgstore-install-bench-"))
    repo, cache = work / "m2", work / "neo4j-cache"
    env = {**os.environ, "MAVEN_OPTS": f"{os.environ.get('MAVEN_OPTS', '')} -Dmaven.repo.local={repo}".strip(),
           "KGSTORE_NEO4J_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
    mvn = check_maven()
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
          f"mvn on PATH {'.'.join(map(str, maven_version(mvn)))} ({mvn}); KGSTORE_MAVEN="
          f"{os.environ.get('KGSTORE_MAVEN', '(unset)')}")
    print(f"empty Maven repository {repo}, empty cache {cache}")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", CHILD, args.neo4j_version or "-"], env=env, cwd=REPO,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - started
    print(result.stdout.rstrip())
    row: dict = {"neo4j_version_asked": args.neo4j_version or "5.26", "seconds": round(seconds, 1),
                 "exit_code": result.returncode}
    if result.returncode == 0:
        dist = Path(result.stdout.rsplit("DIST ", 1)[1].strip())
        manifest = json.loads((dist / "kgstore-dist.json").read_text())
        row.update(version=manifest["version"], browser=manifest["browser_version"], jars_in_lib=manifest["jars"],
                   maven=manifest.get("maven"), fetched_for_distribution=manifest.get("fetched"),
                   poms_in_repo=sum(1 for _ in repo.rglob("*.pom")), jars_in_repo=sum(1 for _ in repo.rglob("*.jar")),
                   repo_megabytes=round(sum(p.stat().st_size for p in repo.rglob("*") if p.is_file()) / 1e6, 1))
    if args.json:
        print(json.dumps(row, indent=2))
    else:
        width = max(map(len, row))
        print("\n".join(f"{key:<{width}}  {value}" for key, value in row.items()))
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
