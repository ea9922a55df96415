"""The one error a KCS file reader raises: every bad line of the file, with its line number and reason."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BadLine:
    """One rejected line. `line` is the 1-based line (csv) or row (xlsx) number, header included."""

    line: int
    reason: str
    sheet: str = ""

    def __str__(self) -> str:
        where = f"{self.sheet}!{self.line}" if self.sheet else f"line {self.line}"
        return f"{where}: {self.reason}"


class KcsFileError(ValueError):
    """A malformed file: nothing of it should be loaded. `bad_lines` lists every problem found."""

    #: How many bad lines the message spells out; `bad_lines` always holds all of them.
    MESSAGE_LIMIT = 50

    def __init__(self, path: str, bad_lines: list[BadLine]) -> None:
        self.path = path
        self.bad_lines = list(bad_lines)
        shown = "\n".join(f"  {bad}" for bad in self.bad_lines[: self.MESSAGE_LIMIT])
        more = len(self.bad_lines) - self.MESSAGE_LIMIT
        tail = f"\n  … and {more} more" if more > 0 else ""
        super().__init__(f"{path}: {len(self.bad_lines)} bad line(s), nothing loaded:\n{shown}{tail}")
