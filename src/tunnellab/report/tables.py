"""Tables of the HTML reports: a DataFrame as headers and cells (shown text + sort key)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tunnellab.errors import TunnellabError


@dataclass(frozen=True)
class Cell:
    """What a cell shows, what it sorts by, and an optional link."""

    text: str
    key: str
    href: str = ""


@dataclass
class Table:
    """A sortable table: header names and rows of cells."""

    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)


def _cell(value: object, digits: int) -> Cell:
    """``digits`` decimals for a float (0 where its whole column holds whole numbers)."""
    if isinstance(value, bool) or value is None:
        return Cell("" if value is None else str(value), "" if value is None else str(value))
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return Cell("", "")
        return Cell(f"{float(value):.{digits}f}", repr(float(value)))
    return Cell(str(value), str(value))


def _whole(column: pd.Series) -> bool:
    values = pd.to_numeric(column, errors="coerce").dropna()
    return column.dtype.kind in "iuf" and bool((values == values.round()).all())


def table(frame: pd.DataFrame, digits: int = 3, links: dict[str, list[str]] | None = None) -> Table:
    """``frame`` as a :class:`Table`; ``links`` maps a column to one href per row."""
    out = Table([str(c) for c in frame.columns])
    links = links or {}
    places = {c: 0 if _whole(frame[c]) else digits for c in frame.columns}
    for i, row in enumerate(frame.itertuples(index=False)):
        cells = []
        for column, value in zip(frame.columns, row, strict=True):
            cell = _cell(value.item() if hasattr(value, "item") else value, places[column])
            href = links.get(column, [""] * len(frame))[i]
            cells.append(Cell(cell.text, cell.key, href) if href else cell)
        out.rows.append(cells)
    return out


def read_csv(path: Path, required: Sequence[str] = ()) -> pd.DataFrame | None:
    """The CSV at ``path``, or None where it is missing; a file that is not a CSV, or lacks a
    ``required`` column, is an error."""
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise TunnellabError(
            f"Cannot read {path} for the report: {err}. Expected a CSV table written by "
            "tunnellab; move the file aside or rewrite it with the command that made it."
        ) from err
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise TunnellabError(
            f"{path} lacks the column(s) {missing} the report reads (it needs "
            f"{list(required)}): not a table tunnellab wrote; move it aside or rerun the command "
            "that made it."
        )
    return frame
