"""What is wrong with a CAP document: each problem names its line and element."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    line: int | None
    element: str  # "severity", "area", "alert"; "document" for the whole text
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}<{self.element}> {self.message}"


class CapError(ValueError):
    """A document that is not CAP 1.2 as Tocsin takes it; nothing was changed."""

    def __init__(self, problems: list[Problem]) -> None:
        assert problems, "a CapError names at least one problem"
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))

    @classmethod
    def one(cls, line: int | None, element: str, message: str) -> CapError:
        return cls([Problem(line, element, message)])

    @property
    def errors(self) -> dict[str, str]:
        """Field-like keys for a JSON error or a form: the element, numbered when repeated."""
        found: dict[str, str] = {}
        for problem in self.problems:
            key, n = problem.element, 1
            while key in found:
                n += 1
                key = f"{problem.element} ({n})"
            found[key] = str(problem)
        return found
