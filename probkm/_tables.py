"""Columns of a user's table: read a CSV the way R and spreadsheets write it, then pick the features.

A CSV is read with the :mod:`csv` module (quoted headers and cells), its header detected, and
R's ``write.csv`` row-name column (an unnamed first column) recognised. Each column is then
numeric, text, mixed or empty; :func:`pick_columns` keeps the numeric ones (or those named),
sets a label column aside, and returns notes saying what it left out and how many entries
were missing. Missing entries (``NA``, empty, ``NaN``) become NaN.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from probkm._checks import InvalidType, InvalidValue

MISSING = frozenset({"", "NA", "NaN", "nan"})


class Column(NamedTuple):
    """One column of a table.

    Attributes
    ----------
    name : str
        From the header; ``x0``, ``x1``, ... without one.
    values : numpy.ndarray, shape (N,)
        The numbers, NaN where an entry is missing or not a number.
    cells : tuple of str or None
        The entries as written (CSV), or ``None`` (an array).
    n_numbers : int
        Entries that are numbers.
    first_text : tuple of (int, str) or None
        The file line and text of the first entry that is neither a number nor missing.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm._tables import Column
    >>> Column("kind", np.full(2, np.nan), ("a", "NA"), 0, (2, "a")).kind
    'text'
    """

    name: str
    values: np.ndarray
    cells: tuple[str, ...] | None
    n_numbers: int
    first_text: tuple[int, str] | None

    @property
    def kind(self) -> str:
        """``"numeric"``, ``"text"``, ``"mixed"`` or ``"empty"`` (every entry missing)."""
        if self.first_text is None:
            return "numeric" if self.n_numbers else "empty"
        return "mixed" if self.n_numbers else "text"


def _number(cell: str) -> float | None:
    """The cell as a float; NaN when missing; ``None`` when it is text."""
    if cell in MISSING:
        return float("nan")
    try:
        return float(cell)
    except ValueError:
        return None


def _column(name: str, cells: Sequence[str], lines: Sequence[int]) -> Column:
    numbers = [_number(c) for c in cells]
    text = next(((line, c) for line, c, v in zip(lines, cells, numbers) if v is None), None)
    values = np.array([np.nan if v is None else v for v in numbers], dtype=float)
    return Column(name, values, tuple(cells), sum(c not in MISSING and v is not None for c, v in zip(cells, numbers)), text)


def _is_text(cell: str) -> bool:
    return _number(cell) is None


def _has_header(rows: list[list[str]]) -> bool:
    """A first row with text where a later row has a number in the same column."""
    first = rows[0]
    return any(_is_text(first[j]) and any(j < len(r) and not _is_text(r[j]) and r[j] not in MISSING for r in rows[1:]) for j in range(len(first))) or (
        len(rows) == 1 and any(_is_text(c) for c in first)
    )


def _is_row_names(cells: Sequence[str]) -> bool:
    """R's row names: distinct, none missing, and all integers or all text."""
    if not cells or len(set(cells)) != len(cells) or any(c in MISSING for c in cells):
        return False
    if all(_is_text(c) for c in cells):
        return True
    return all(c.lstrip("-").isdigit() for c in cells)


def read_csv_columns(path: Path) -> tuple[list[Column], list[str]]:
    """The columns of a CSV file, and notes on what was recognised.

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    columns : list of Column
    notes : list of str
        For example, that an unnamed first column of row names was left out.

    Raises
    ------
    InvalidValue
        No data rows, or rows of different lengths (naming the line).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from probkm._tables import read_csv_columns
    >>> path = Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = path.write_text('"","len","kind"\\n"1",1.5,"a"\\n"2",NA,"b"\\n')
    >>> columns, notes = read_csv_columns(path)
    >>> [(c.name, c.kind) for c in columns], notes[0][:40]
    ([('len', 'numeric'), ('kind', 'text')], 'the unnamed first column holds row names')
    """
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        rows, lines = [], []
        for row in reader:
            cells = [cell.strip() for cell in row]
            if any(cells):
                rows.append(cells)
                lines.append(reader.line_num)
    if not rows:
        raise InvalidValue(f"{path}: the file has no data rows.")
    header = None
    if _has_header(rows):
        header, rows, lines = rows[0], rows[1:], lines[1:]
    if not rows:
        raise InvalidValue(f"{path}: the file has no data rows.")
    width = len(header) if header is not None else len(rows[0])
    for line, row in zip(lines, rows):
        if len(row) != width:
            first = lines[0] - (header is not None)
            raise InvalidValue(f"{path}: line {line} has {len(row)} columns, but line {first} has {width}.")
    names = header if header is not None else [f"x{j}" for j in range(width)]
    columns = [_column(names[j], [r[j] for r in rows], lines) for j in range(width)]
    notes = []
    if header is not None and names[0] == "" and width > 1 and _is_row_names(columns[0].cells):
        cells = columns.pop(0).cells
        notes.append(f"the unnamed first column holds row names ({cells[0]} to {cells[-1]}), as R's write.csv writes them; left out.")
    return columns, notes


def array_columns(X: np.ndarray) -> list[Column]:
    """The columns ``x0, x1, ...`` of a 2-D numeric array (a ``.npy`` file).

    Examples
    --------
    >>> import numpy as np
    >>> from probkm._tables import array_columns
    >>> [(c.name, c.n_numbers) for c in array_columns(np.array([[1.0, np.nan], [2.0, 3.0]]))]
    [('x0', 2), ('x1', 1)]
    """
    return [Column(f"x{j}", X[:, j], None, int(np.sum(~np.isnan(X[:, j]))), None) for j in range(X.shape[1])]


def _label(columns: list[Column], j: int) -> str:
    return f"{columns[j].name!r} (index {j})"


def _available(columns: list[Column]) -> str:
    return ", ".join(f"{j} {c.name!r}" for j, c in enumerate(columns))


def _resolve(columns: list[Column], key: Any, what: str, where: str) -> int:
    """The index of the column ``key`` names: a name, else an int or a string of digits (0-based)."""
    names = [c.name for c in columns]
    if isinstance(key, str) and key in names:
        if names.count(key) > 1:
            raise InvalidValue(f"{where}{what}: the name {key!r} heads {names.count(key)} columns; give its 0-based index instead.")
        return names.index(key)
    index = int(key) if isinstance(key, str) and key.isdigit() else key
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        if 0 <= index < len(columns):
            return int(index)
    elif not isinstance(key, str):
        raise InvalidType(f"{where}{what} must name columns by name (str) or 0-based index (int); got {key!r} of type {type(key).__name__}.")
    raise InvalidValue(f"{where}{what}: no column {key!r}; available columns (0-based index and name): {_available(columns)}.")


def _require_numeric(columns: list[Column], j: int, what: str, where: str) -> None:
    column = columns[j]
    if column.kind in ("text", "mixed"):
        line, cell = column.first_text
        raise InvalidValue(f"{where}{what}: column {_label(columns, j)} is not numeric: line {line} has the value {cell!r}.")
    if column.kind == "empty":
        raise InvalidValue(f"{where}{what}: column {_label(columns, j)} has no values (every entry is missing).")


class Picked(NamedTuple):
    """What :func:`pick_columns` returns: ``X (N, D)`` with NaN where missing, the labels
    ``(N,)`` or ``None``, the feature names ``(D,)`` and notes.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm._tables import Picked
    >>> Picked(np.zeros((2, 1)), None, ("a",), []).names
    ('a',)
    """

    X: np.ndarray
    labels: np.ndarray | None
    names: tuple[str, ...]
    notes: list[str]


def pick_columns(columns: list[Column], *, columns_wanted: Sequence[Any] | None = None, label_column: Any = None, where: str = "") -> Picked:
    """Choose the features (and a label column) of a table.

    Parameters
    ----------
    columns : list of Column
    columns_wanted : sequence of str or int, or None
        Names or 0-based indices of the features; ``None``: every numeric column but the
        label column, text and empty columns left out with a note.
    label_column : str, int or None
        A column kept aside as labels (its entries as written).
    where : str
        Prefix of the messages, e.g. the file name and ``": "``.

    Returns
    -------
    Picked

    Raises
    ------
    InvalidValue
        An unknown column (the message lists those available), a chosen column that is not
        numeric (naming column, line and value), a column that mixes numbers and text, or no
        numeric column at all.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm._tables import array_columns, pick_columns
    >>> table = array_columns(np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]]))
    >>> picked = pick_columns(table, columns_wanted=["x1", 0], label_column=2)
    >>> picked.X.tolist(), picked.labels.tolist(), picked.names
    ([[2.0, 1.0], [4.0, 3.0]], [0.0, 1.0], ('x1', 'x0'))
    """
    label_index = None if label_column is None else _resolve(columns, label_column, "label_column", where)
    notes: list[str] = []
    if columns_wanted is not None:
        if isinstance(columns_wanted, (str, int)):
            columns_wanted = [columns_wanted]
        chosen = [_resolve(columns, key, "columns", where) for key in columns_wanted]
        if not chosen:
            raise InvalidValue(f"{where}columns must name at least one column; available columns: {_available(columns)}.")
        repeated = sorted({j for j in chosen if chosen.count(j) > 1})
        if repeated:
            raise InvalidValue(f"{where}columns: column {_label(columns, repeated[0])} is given twice.")
        if label_index in chosen:
            raise InvalidValue(f"{where}columns: column {_label(columns, label_index)} is also the label_column; a label is not a feature.")
        for j in chosen:
            _require_numeric(columns, j, "columns", where)
    else:
        chosen, dropped = [], {"text": [], "empty": []}
        for j, column in enumerate(columns):
            if j == label_index:
                continue
            if column.kind == "mixed":
                line, cell = column.first_text
                raise InvalidValue(
                    f"{where}line {line} has the non-numeric value {cell!r} in column {_label(columns, j)}; every value of a feature must be a number, "
                    "or NA or empty when missing. Correct it, or choose other columns (columns= / --columns)."
                )
            (chosen if column.kind == "numeric" else dropped[column.kind]).append(j)
        if dropped["text"]:
            notes.append(
                f"left out {len(dropped['text'])} non-numeric column(s): {', '.join(repr(columns[j].name) for j in dropped['text'])}; "
                "choose features with --columns (columns=) and keep a column of classes for comparison with --label-column (label_column=)."
            )
        if dropped["empty"]:
            notes.append(f"left out column(s) with no values: {', '.join(repr(columns[j].name) for j in dropped['empty'])}.")
        if not chosen:
            raise InvalidValue(f"{where}the table has no numeric column; available columns: {_available(columns)}.")
    X = np.stack([columns[j].values for j in chosen], axis=1)
    missing = np.isnan(X).sum(axis=0)
    if missing.any():
        counts = ", ".join(f"{columns[j].name!r} {m}" for j, m in zip(chosen, missing) if m)
        notes.append(
            f"{int(missing.sum())} missing entries (NA, empty or NaN) read as NaN, in {int(np.isnan(X).any(axis=1).sum())} of {len(X)} rows; by column: {counts}."
        )
    labels = None
    if label_index is not None:
        column = columns[label_index]
        labels = np.asarray(column.cells) if column.cells is not None else column.values
    return Picked(X, labels, tuple(columns[j].name for j in chosen), notes)
