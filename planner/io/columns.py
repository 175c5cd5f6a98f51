"""Matching a file's headers to the canonical columns (``planner.schema``)."""

from __future__ import annotations

import json
from pathlib import Path

from planner import schema as S

LOCATION_ALIASES = ("location", "坐标", "经纬度", "位置坐标", "lnglat")

def parse_column_mapping(text: str | None) -> dict[str, str]:
    """``"id=客户编号,lon=经度"`` or a JSON object, or a path to a JSON file -> {canonical: header}."""
    if not text:
        return {}
    t = text.strip()
    p = Path(t)
    if t.endswith(".json") and p.exists():
        t = p.read_text(encoding="utf-8")
    if t.startswith("{"):
        try:
            m = json.loads(t)
        except json.JSONDecodeError as exc:
            raise ValueError(f"column mapping is not valid JSON: {exc}") from exc
        return {str(k): str(v) for k, v in m.items()}
    out = {}
    for part in t.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"column mapping item {part!r} is not canonical=header")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def resolve_columns(headers: list[str], sch: S.Schema, mapping: dict[str, str] | None = None) -> dict[str, str]:
    """Match the file's headers to canonical columns: {canonical: header}.

    The user's mapping wins; then exact canonical names; then aliases
    (case-insensitive, spaces and underscores ignored).
    """
    mapping = dict(mapping or {})
    unknown = [k for k in mapping if k not in sch.columns]
    if unknown:
        raise ValueError(f"column mapping names unknown {sch.entity} fields {unknown}: "
                         f"known fields are {', '.join(sch.columns)}")
    missing = [v for v in mapping.values() if v not in headers]
    if missing:
        raise ValueError(f"column mapping refers to headers not in the file: {missing}; "
                         f"the file has {headers}")

    def norm(s: str) -> str:
        return str(s).strip().lower().replace(" ", "").replace("_", "").replace("-", "")

    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(norm(h), h)
    used = set(mapping.values())
    out = dict(mapping)
    for f in sch.fields:
        if f.name in out:
            continue
        for cand in (f.name, *f.aliases):
            hit = by_norm.get(norm(cand))
            if hit is not None and hit not in used:
                out[f.name] = hit
                used.add(hit)
                break
    return out
