"""Reading MNIST from CSV: Kaggle's "mnist-in-csv" pair, "pixel0..pixel783" headers, or bare rows.

A cell that is not a number, a row of the wrong length or a value outside 0..255 becomes one
sentence naming the row and column.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .data_checks import (DataError, Dataset, MAX_IMAGES, PIXELS, _SNIFF, _binary_hint, _brief, _dataset,
    _hold_out, _is_text, _open_binary, _peek, _reading, _split)

# --------------------------------------------------------------------------------------------
# CSV (Kaggle "mnist-in-csv", "pixel0..pixel783", or bare rows)
# --------------------------------------------------------------------------------------------

def _load_csv_pair(folder: Path, files: dict[str, Path]) -> Dataset:
    train, test = (_split(*_read_csv(files[split]), files[split].name, files[split].name)
                   for split in ("train", "test"))
    if (train[1][0] >= 0) != (test[1][0] >= 0):
        labelled, unlabelled = (files["train"], files["test"]) if train[1][0] >= 0 else (files["test"], files["train"])
        raise DataError(f"{labelled.name} has a label column but {unlabelled.name} does not; "
                        f"give labels in both files or in neither.")
    return _dataset(train, test, where=str(folder), format="csv", path=str(folder),
                    source=f"MNIST from {folder} (CSV: {files['train'].name} and {files['test'].name})")


def _load_csv_single(path: Path) -> Dataset:
    images, labels = _split(*_read_csv(path), path.name, path.name)
    train, test = _hold_out(images, labels, path.name)
    return _dataset(train, test, where=path.name, format="csv", path=str(path),
                    source=f"MNIST from {path} (CSV; a fixed random 1/7 held out for testing)")


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read one MNIST CSV into raw pixel rows (float32, still 0..255) and labels (or None)."""
    name = path.name
    with _reading(name):
        head = _peek(path, _SNIFF)
        if not head.strip():
            raise DataError(f"{name} is empty.")
        if not _is_text(head):
            raise DataError(f"{name} is not a text CSV file{_binary_hint(head)}.")
        if len(head) == _SNIFF and not re.search(rb"[\r\n]", head):
            raise DataError(f"{name} has a first line longer than {_SNIFF // 1024} KB, which no MNIST CSV has.")
        first_line = re.split(r"\r\n|\r|\n", head.decode("utf-8", errors="replace").lstrip("\ufeff"), 1)[0]
        fields = [c.strip().strip('"').strip() for c in first_line.split(",")]
        has_header = not all(_is_number(c) for c in fields)
        label_at = _label_column(fields, has_header, name)
        frame = _parse_csv(path, has_header)
        if frame.shape[1] != len(fields):   # quoted commas can fool the quick count above, not pandas
            _label_column([str(c) for c in frame.columns] if has_header else [""] * frame.shape[1], has_header, name)
        if len(frame) == 0:
            raise DataError(f"{name} has a header but no data rows.")
        if len(frame) > MAX_IMAGES:
            raise DataError(f"{name} has more than {MAX_IMAGES:,} rows, the limit per split.")
        values = frame.to_numpy(dtype=np.float32, copy=False)
        _check_complete(values, frame.columns, has_header, name)
    _check_cell_range(values, label_at, frame.columns, has_header, name)
    if label_at is None:
        return values, None
    labels = values[:, label_at]
    pixels = values[:, 1:] if label_at == 0 else np.delete(values, label_at, axis=1)
    return pixels, labels


def _check_cell_range(values: np.ndarray, label_at: int | None, columns, has_header: bool, name: str) -> None:
    """Point at the first out-of-range cell by line and column: in a 100 MB CSV, "somewhere" is no help."""
    bad = (values < 0) | (values > 255)
    if label_at is not None:
        labels = values[:, label_at]
        bad[:, label_at] = (labels < 0) | (labels > 9) | (labels != np.round(labels))
    rows = bad.any(axis=1)
    if not rows.any():
        return
    row = int(np.argmax(rows))
    col = int(np.argmax(bad[row]))
    what, allowed = ("label", "a whole number 0..9") if col == label_at else ("pixel", "0..255")
    raise DataError(f"{name} line {row + 1 + has_header} has {what} {values[row, col]:g} in column "
                    f"{_column_name(columns[col], col, has_header)}; expected {allowed}.")


def _label_column(fields: list[str], has_header: bool, name: str) -> int | None:
    """Which column holds the digit: the one named "label", else the first of 785; none for 784."""
    named = [i for i, c in enumerate(fields) if has_header and c.lower() == "label"]
    if len(fields) == PIXELS + 1:
        return named[0] if named else 0
    if len(fields) == PIXELS and not named:
        return None
    raise DataError(f"{name} has {len(fields)} columns{' including label' if named else ''}; expected "
                    f"{PIXELS + 1} (a label and {PIXELS} pixels) or {PIXELS} (pixels only).")


def _parse_csv(path: Path, has_header: bool):
    import pandas as pd  # ~0.4 s to import, and only CSV needs it

    name = path.name
    try:
        # float32 parses 0..255 exactly and, unlike small ints, cannot silently wrap 300 to 44. A huge
        # number overflows to inf, which the range check reports; numpy need not warn about it too.
        with _open_binary(path) as (f, _), np.errstate(over="ignore", invalid="ignore"):
            return pd.read_csv(f, header=0 if has_header else None, dtype=np.float32, engine="c",
                               encoding="utf-8", nrows=MAX_IMAGES + 1)
    except UnicodeDecodeError:
        raise DataError(f"{name} is not a text CSV file (it contains bytes that are not UTF-8 text).") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{name} has no data rows.") from None
    except pd.errors.ParserError as e:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        if m:
            raise DataError(f"{name} line {m[2]} has {m[3]} values, but earlier lines have {m[1]}.") from None
        raise DataError(f"{name} could not be parsed as CSV ({_brief(e)}).") from None
    except ValueError as e:
        raise DataError(_describe_non_numeric(path, has_header) or
                        f"{name} has cells that are not numbers ({_brief(e)}).") from None


def _describe_non_numeric(path: Path, has_header: bool) -> str | None:
    """Slow path, only after a failed parse: find the first cell that is not a number, by row and column."""
    import pandas as pd

    try:
        with _open_binary(path) as (f, _):
            frame = pd.read_csv(f, header=0 if has_header else None, dtype=str, keep_default_na=False,
                                engine="c", encoding="utf-8", nrows=MAX_IMAGES + 1)
    except Exception:
        return None
    best = None
    for col_no, column in enumerate(frame.columns):
        cells = frame[column].fillna("").astype(str).str.strip()   # short rows pad with NaN: not our culprit
        numbers = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(numbers) & (cells != "").to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            if best is None or row < best[0]:
                best = (row, col_no, column)
    if best is None:
        return None
    row, col_no, column = best
    cell = str(frame.iat[row, col_no])
    cell = cell if len(cell) <= 20 else cell[:20] + "…"
    return (f"{path.name} line {row + 1 + has_header} has {cell!r} in column "
            f"{_column_name(column, col_no, has_header)}, which is not a number.")


def _check_complete(values: np.ndarray, columns, has_header: bool, name: str) -> None:
    """Empty cells and short rows both arrive as NaN; say which row, and which of the two it is."""
    missing = np.isnan(values)
    rows = missing.any(axis=1)
    if not rows.any():
        return
    row = int(np.argmax(rows))
    gaps = np.flatnonzero(missing[row])
    line = row + 1 + has_header
    if gaps[-1] == values.shape[1] - 1 and len(gaps) == values.shape[1] - gaps[0]:
        raise DataError(f"{name} line {line} has {gaps[0]} values, but earlier lines have {values.shape[1]}.")
    column = _column_name(columns[gaps[0]], int(gaps[0]), has_header)
    raise DataError(f"{name} line {line} has an empty or NaN cell in column {column}.")


def _column_name(column, col_no: int, has_header: bool) -> str:
    return repr(str(column)) if has_header else str(col_no + 1)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
