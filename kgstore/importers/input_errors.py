"""Bad input: one error type that names the file, the line and the problem.

Every reader reports problems to an :class:`InputErrors`; with ``policy="fail"`` the first
problem raises (nothing has been written yet, see ``kgstore.sync``), with
``policy="skip"`` every problem is collected, the line is skipped, and the summary
lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kgstore.errors import KgstoreError

Policy = Literal["fail", "skip"]


class BadInputError(KgstoreError):
    """A line or file kgstore cannot import."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(
            f"{where}: {problem}",
            hint="Fix the input, or re-run with `--on-error skip` to skip and list every bad line.",
        )


@dataclass
class InputProblem:
    path: Path
    line: int | None
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}" if self.line is not None else \
            f"{self.path}: {self.problem}"


@dataclass
class InputErrors:
    """Where readers report bad lines; raises or collects according to ``policy``."""

    policy: Policy = "fail"
    problems: list[InputProblem] = field(default_factory=list)

    def report(self, path: Path | str, line: int | None, problem: str) -> None:
        if self.policy == "fail":
            raise BadInputError(path, line, problem)
        self.problems.append(InputProblem(Path(path), line, problem))
