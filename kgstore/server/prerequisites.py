"""Finding ``java`` and ``mvn`` and checking they are new enough for the Neo4j version.

Neo4j 5.26 runs on Java 17 or 21; the calendar releases (2025.01 on) on Java 21 or newer.
The JDK a server runs on: the home's own ``java_home`` setting (``kgstore server install
--java-home``), else ``$JAVA_HOME``, else ``java`` on PATH, else (for a version that needs a
newer Java than those) the newest JDK in the usual install folders (``/usr/lib/jvm/*``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from kgstore.errors import PrerequisiteError

MIN_JAVA = 17


JDK_FOLDERS = (Path("/usr/lib/jvm"), Path("/opt/java"), Path("/usr/java"), Path("/Library/Java/JavaVirtualMachines"))


def java_executable(java_home: str | None = None) -> str:
    """``<java_home>/bin/java``, else ``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else ``java`` on PATH."""
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if not candidate.is_file():
            raise PrerequisiteError(f"{candidate} does not exist (java home {java_home}).",
                                    hint="Point --java-home at a JDK folder (the one holding bin/java).")
        return str(candidate)
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


def installed_jdks() -> list[tuple[int, Path]]:
    """``(major version, java home)`` of the JDKs in :data:`JDK_FOLDERS`, newest first."""
    found: dict[Path, int] = {}
    for folder in JDK_FOLDERS:
        if not folder.is_dir():
            continue
        for home in sorted(folder.iterdir()):
            for java_home in (home, home / "Contents" / "Home"):
                java = java_home / "bin" / "java"
                if java.is_file() and java.resolve() not in {(h / "bin" / "java").resolve() for h in found}:
                    try:
                        found[java_home] = java_major_version(str(java))
                    except PrerequisiteError:
                        pass
    return sorted(((major, home) for home, major in found.items()), key=lambda item: -item[0])


def check_java(min_major: int = MIN_JAVA, java_home: str | None = None, *, what: str = "Neo4j 5.26") -> str:
    """The java executable for a server needing Java ``min_major``, failing clearly when none is.

    ``java_home`` (the home's setting) and ``$JAVA_HOME`` are used as given: too old is an
    error. ``java`` on PATH that is too old gives way to the newest installed JDK that is
    new enough (:func:`installed_jdks`).
    """
    java = java_executable(java_home)
    major = java_major_version(java)
    if major >= min_major:
        return java
    newer = [home for other_major, home in installed_jdks() if other_major >= min_major]
    if not java_home and not os.environ.get("JAVA_HOME") and newer:
        return str(newer[0] / "bin" / "java")
    found = f" ({newer[0]} is one)" if newer else ""
    raise PrerequisiteError(
        f"{java} is Java {major}; {what} needs Java {min_major} or newer.",
        hint=f"Give a JDK {min_major}+{found} with `kgstore server install --java-home DIR` or JAVA_HOME, or install "
        f"one (e.g. Temurin, or `apt-get install openjdk-{min_major}-jre-headless`).",
    )


def maven_version(mvn: str) -> tuple[int, ...]:
    """``(major, minor, patch)`` of ``mvn -v`` (``(0,)`` when it cannot be read)."""
    result = subprocess.run([mvn, "-v"], capture_output=True, text=True, check=False)
    match = re.search(r"Apache Maven (\d+)\.(\d+)\.(\d+)", result.stdout + result.stderr)
    return tuple(int(p) for p in match.groups()) if match else (0,)


def check_maven() -> str:
    """Return the ``mvn`` executable, failing clearly when it is missing."""
    found = shutil.which("mvn")
    if not found:
        raise PrerequisiteError(
            "mvn (Apache Maven) was not found on PATH; kgstore resolves Neo4j's jars with it.",
            hint="Install Maven 3.8+ (e.g. `apt-get install maven`) and retry.",
        )
    return found
