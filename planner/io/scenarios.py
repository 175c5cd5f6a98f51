"""Named scenarios saved with the workspace: plans to compare side by side and to stage by date.

A scenario is a folder ``<root>/<slug>/`` holding ``scenario.json`` (its name as typed, the job, when
it was saved, the effective date if staged, the options and the plan's KPIs and report) and
``changes.csv`` (the change list: account, from, to, change, reason, effective_date; one row per
input account) and, for contiguous plans, ``territories.geojson`` (the areas). ``root`` is the data
folder's ``scenarios/`` (``Workspace.scenarios_root``), or for the embedded demo
``$PLANNER_HOME/scenarios/<label>`` (default ``~/.local/share/planner``).

A scenario is written whole or not at all (a staging folder renamed into place); saving under an
existing name replaces it. Names are user text: any characters, at most 80; the folder name is a
safe slug of it and the real name lives in the JSON.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from planner.errors import InputError
from planner.io.write import write_csv

CHANGES = "changes.csv"
META = "scenario.json"
AREAS = "territories.geojson"
MAX_NAME = 80


def default_root(label: str) -> Path:
    """Where scenarios of a workspace without a folder (the demo) are kept."""
    home = Path(os.environ.get("PLANNER_HOME") or Path.home() / ".local" / "share" / "planner")
    return home / "scenarios" / slug(label or "files")


def check_name(name: object) -> str:
    """The scenario name, stripped; ``InputError`` when empty, too long or with control characters."""
    text = str(name if name is not None else "").strip()
    if not text:
        raise InputError("scenario: the name is empty")
    if len(text) > MAX_NAME:
        raise InputError(f"scenario: the name has {len(text)} characters, at most {MAX_NAME}")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise InputError("scenario: the name has control characters")
    return text


def slug(name: str) -> str:
    """A folder name for ``name``: letters (any script), digits, ``-`` and ``_``; never empty or a dot name."""
    s = re.sub(r"[^\w\-]+", "_", unicodedata.normalize("NFKC", name), flags=re.UNICODE).strip("_.")
    return (s or "scenario")[:MAX_NAME]


def check_date(value: date | str | None) -> str | None:
    """An effective date as ISO ``YYYY-MM-DD`` (None stays None); ``InputError`` for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise InputError(f"effective date: {value!r} is not a date (YYYY-MM-DD)") from None
    if pd.isna(ts):
        raise InputError(f"effective date: {value!r} is not a date (YYYY-MM-DD)")
    return str(ts.date().isoformat())


@dataclass(frozen=True)
class Scenario:
    """A saved scenario: its name, metadata and change list (``changes`` read on demand)."""

    name: str
    folder: Path
    meta: dict[str, Any]

    @property
    def effective_date(self) -> str | None:
        v = self.meta.get("effective_date")
        return None if v is None else str(v)

    @property
    def kpis(self) -> dict[str, Any]:
        k = self.meta.get("kpis", {})
        return dict(k) if isinstance(k, dict) else {}

    def changes(self) -> pd.DataFrame:
        """The change list as saved (text columns kept as text)."""
        from planner.io.read import read_raw

        return read_raw(self.folder / CHANGES)

    def areas(self) -> Any:
        """The territories as a GeoDataFrame, or None for a plan without areas."""
        p = self.folder / AREAS
        if not p.exists():
            return None
        import geopandas as gpd

        return gpd.read_file(p)


def save(root: str | Path, name: object, *, job: str, changes: pd.DataFrame, kpis: dict[str, Any],
         report: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
         effective_date: date | str | None = None, areas: Any = None) -> Scenario:
    """Save (or replace) scenario ``name`` under ``root``; returns it. Written whole or not at all."""
    text = check_name(name)
    when = check_date(effective_date)
    base = Path(root)
    base.mkdir(parents=True, exist_ok=True)
    final = base / slug(text)
    stage = base / f".{final.name}.staging-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        out = changes.copy()
        if when is not None:
            out["effective_date"] = when
        write_csv(out, stage / CHANGES)
        if areas is not None:
            areas.to_file(stage / AREAS, driver="GeoJSON")
        meta = {"name": text, "job": job, "saved": datetime.now(UTC).isoformat(timespec="seconds"),
                "effective_date": when, "kpis": kpis, "report": report or {}, "options": options or {},
                "accounts": int(len(changes))}
        (stage / META).write_text(json.dumps(_plain(meta), ensure_ascii=False, indent=1), encoding="utf-8")
        old = base / f".{final.name}.old-{os.getpid()}"
        if final.exists():
            os.replace(final, old)
        os.replace(stage, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return Scenario(text, final, json.loads((final / META).read_text(encoding="utf-8")))


def _plain(v: Any) -> Any:
    import math

    import numpy as np

    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_plain(x) for x in (sorted(v, key=str) if isinstance(v, (set, frozenset)) else v)]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(float(v)) else None
    if v is None or isinstance(v, (str, int)):
        return v
    return str(v)


def list_all(root: str | Path) -> list[Scenario]:
    """The scenarios under ``root``, by name (folders without a readable ``scenario.json`` are skipped)."""
    base = Path(root)
    out: list[Scenario] = []
    if not base.is_dir():
        return out
    for d in sorted(base.iterdir()):
        if d.name.startswith(".") or not (d / META).is_file():
            continue
        try:
            meta = json.loads((d / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out.append(Scenario(str(meta.get("name", d.name)), d, meta))
    return sorted(out, key=lambda s: s.name)


def load(root: str | Path, name: object) -> Scenario:
    """Scenario ``name`` (as typed when saved); ``InputError`` naming the ones there are when missing."""
    text = check_name(name)
    found = {s.name: s for s in list_all(root)}
    if text not in found:
        have = ", ".join(sorted(found)) or "none"
        raise InputError(f"scenario {text!r} not found in {root} (saved: {have})")
    return found[text]


def delete(root: str | Path, name: object) -> None:
    shutil.rmtree(load(root, name).folder)


COMPARE_KPIS = ("status", "effective_date", "contiguous", "assigned", "moved", "moved_potential_cny",
                "workload_max_over_min", "potential_max_over_min", "accounts_max_over_min", "mean_travel_min",
                "knn_same", "hull_overlap", "seconds")


def compare(scenarios: list[Scenario]) -> pd.DataFrame:
    """KPIs side by side (one column per scenario), plus, against the first, the accounts whose rep differs."""
    data: dict[str, list[Any]] = {}
    first = None
    for sc in scenarios:
        k = dict(sc.kpis, status=sc.meta.get("report", {}).get("status"), effective_date=sc.effective_date)
        col = [k.get(key) for key in COMPARE_KPIS]
        ch = sc.changes().set_index("account")["to"]
        if first is None:
            first = ch
            col.append(0)
        else:
            both = first.index.intersection(ch.index)
            col.append(int((first.loc[both] != ch.loc[both]).sum()))
        data[sc.name] = col
    index = [*COMPARE_KPIS, f"accounts on another rep than in {scenarios[0].name!r}" if scenarios else "differ"]
    return pd.DataFrame(data, index=index)
