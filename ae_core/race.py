"""Races: which runs a Compare page shows, and the configurations of a new race (pure, no TensorFlow)."""
from __future__ import annotations

from typing import Any

from .config import FIELDS, Config, ConfigError, parse_value
from .runs import RunError, check_run_id

MIN_RUNS, MAX_RUNS = 2, 4


def parse_run_ids(text: str | None) -> tuple[list[str], list[str]]:
    """``"a,b,c"`` from ``?runs=`` -> (valid ids in order without repeats, one sentence per bad one)."""
    ids, errors = [], []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            run_id = check_run_id(part)
        except RunError as e:
            errors.append(str(e))
            continue
        if run_id not in ids:
            ids.append(run_id)
    if len(ids) > MAX_RUNS:
        errors.append(f"A race shows at most {MAX_RUNS} runs; the first {MAX_RUNS} are shown.")
        ids = ids[:MAX_RUNS]
    return ids, errors


def race_configs(base: Config, field: str, values: list[Any]) -> list[Config]:
    """One Config per value of ``field``, everything else (the seed included) as in ``base``:
    the runs differ in that one setting only."""
    if field not in FIELDS:
        raise ConfigError(f"{field!r} is not a setting.")
    if not MIN_RUNS <= len(values) <= MAX_RUNS:
        raise ConfigError(f"A race needs {MIN_RUNS} to {MAX_RUNS} values of {field}, not {len(values)}.")
    configs = [base.replace(**{field: value}) for value in values]
    if len({c.to_json() for c in configs}) < len(configs):
        raise ConfigError(f"The values of {field} must differ from each other.")
    return configs


def parse_values(field: str, text: str) -> list[Any]:
    """``"0.01, 0.001"`` -> the setting's values (ConfigError with one sentence for a bad one);
    widths are written ``256-64``, so commas always separate values."""
    if field not in FIELDS:
        raise ConfigError(f"{field!r} is not a setting.")
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    return [parse_value(field, p) for p in parts]
