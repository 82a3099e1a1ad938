"""Finding ``java`` and ``mvn`` and checking they are new enough for Neo4j 5.26."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from kgstore.errors import PrerequisiteError

MIN_JAVA = 17


def java_executable() -> str:
    """``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else ``java`` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("java")
    if not found:
        raise PrerequisiteError(
            "java was not found on PATH (and JAVA_HOME is not set).",
            hint=f"Neo4j 5.26 needs Java {MIN_JAVA} or 21: install a JDK "
            "(e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME.",
        )
    return found


def java_major_version(java: str) -> int:
    """The major version ``java -version`` reports (``1.8`` counts as 8)."""
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    text = result.stderr + result.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        raise PrerequisiteError(f"could not read the Java version from `{java} -version`: {text!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    return major


def check_java() -> str:
    """Return the java executable, failing clearly when it is missing or too old."""
    java = java_executable()
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise PrerequisiteError(
            f"{java} is Java {major}; Neo4j 5.26 needs Java {MIN_JAVA} or newer.",
            hint="Install a newer JDK and put it first on PATH or point JAVA_HOME at it.",
        )
    return java


def check_maven() -> str:
    """Return the ``mvn`` executable, failing clearly when it is missing."""
    found = shutil.which("mvn")
    if not found:
        raise PrerequisiteError(
            "mvn (Apache Maven) was not found on PATH; kgstore resolves Neo4j's jars with it.",
            hint="Install Maven 3.8+ (e.g. `apt-get install maven`) and retry.",
        )
    return found
