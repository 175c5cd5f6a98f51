"""The visit-audit map: each flagged check-in coloured by its reason, a line to its account, the account grey.

One layer per reason (a check-in sits in the layer of its first shown reason in :data:`MAP_ORDER`: the
order of :data:`planner.solvers.audit.REASONS` with ``far_from_account`` last, since ``same_spot`` and a
check-in from the office imply it and say more); the tooltip gives the visit, the rep, the account, the time and each
shown reason with its evidence.  Every id and every evidence text goes through :func:`esc`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from planner.app.maps import core as maps
from planner.app.maps.core import esc
from planner.solvers.audit import REASON_LABELS, REASONS, AuditPlan

__all__ = ["ACCOUNT_COLOUR", "MAP_ORDER", "MAX_POINTS", "REASON_COLOURS", "REASON_LABELS", "audit_map", "reason_label",
           "shown_flags"]

# qualitative (Tableau 10 without its grey, which is the accounts')
REASON_COLOURS = {
    "far_from_account": "#d62728",
    "impossible_speed": "#9467bd",
    "overlap": "#ff7f0e",
    "call_as_visit": "#1f77b4",
    "outside_hours": "#8c564b",
    "same_spot": "#e377c2",
    "role_mismatch": "#2ca02c",
}
ACCOUNT_COLOUR = "#7f7f7f"
MAP_ORDER = (*(r for r in REASONS if r != "far_from_account"), "far_from_account")
MAX_POINTS = 5000  # flagged check-ins drawn at most (each a circle, a line and maybe a square)
_PAD_DEG = 0.005  # the view around a single flagged check-in
_ACCOUNT_PANE = "auditAccounts"  # under Leaflet's overlay pane (400): a check-in on its account stays visible


def reason_label(reason: object) -> str:
    """The reason in Chinese and English (the code itself for a reason this map does not know)."""
    return REASON_LABELS.get(str(reason), str(reason))


def shown_flags(plan: AuditPlan, *, reasons: Iterable[str] | None = None,
                reps: Iterable[str] | None = None) -> pd.DataFrame:
    """The plan's flags of ``reps`` for ``reasons`` (None or empty: all)."""
    f = plan.flags
    rs, ps = list(reasons or ()), list(reps or ())
    if ps:
        f = f[f["rep"].astype(str).isin([str(p) for p in ps])]
    if rs:
        f = f[f["reason"].isin(rs)]
    return f


def _per_visit(flags: pd.DataFrame) -> pd.DataFrame:
    """One row per flagged record: its position, its account's, and its shown reasons in MAP_ORDER."""
    order = {r: k for k, r in enumerate(MAP_ORDER)}
    f = flags.assign(_order=flags["reason"].map(order).fillna(len(MAP_ORDER)))
    f = f.sort_values(["visit_id", "_order"], kind="stable")
    first = f.drop_duplicates("visit_id").set_index("visit_id")
    first["shown"] = f.groupby("visit_id")["reason"].agg(list)
    first["evidence_all"] = f.groupby("visit_id")["evidence"].agg(list)
    return first.reset_index().sort_values("check_in", kind="stable")


def _tooltip_html(r: Any, hidden: int) -> str:
    """Visit, rep, account, time, kind, then each shown reason with its evidence; every part escaped."""
    when = pd.Timestamp(r.check_in).strftime("%Y-%m-%d %H:%M") if pd.notna(r.check_in) else "?"
    lines = [f"<b>{esc(r.visit_id)}</b> · {esc(r.kind)}", f"销售 rep: {esc(r.rep)}", f"客户 account: {esc(r.account)}",
             f"签到 check-in: {esc(when)}"]
    if pd.notna(r.distance_m):
        lines.append(f"离客户 from the account: {float(r.distance_m) / 1000:.2f} km")
    lines += [f'<span style="color:{REASON_COLOURS.get(reason, "#333")}">&#9679;</span> <b>{esc(reason_label(reason))}'
              f"</b>: {esc(ev)}" for reason, ev in zip(r.shown, r.evidence_all)]
    if hidden:
        lines.append(f"<i>+{hidden} more reason(s) hidden by the reason filter</i>")
    return f'<div style="white-space:normal;min-width:240px;max-width:380px">{"<br>".join(lines)}</div>'


def _square(here: list[float], text: str) -> Any:
    import folium

    icon = folium.DivIcon(html=(f'<div style="width:8px;height:8px;background:{ACCOUNT_COLOUR};'
                                'border:1px solid #333;transform:translate(-50%,-50%)"></div>'), icon_size=(0, 0))
    return folium.Marker(here, icon=icon, tooltip=folium.Tooltip(text), pane=_ACCOUNT_PANE)


def _add_reason_layer(m: Any, reason: str, rows: pd.DataFrame, hidden: dict[str, int]) -> None:
    """The check-ins whose first shown reason is ``reason``: circle, line to the account, account square."""
    import folium

    colour = REASON_COLOURS.get(reason, "#333333")
    fg = folium.FeatureGroup(name=esc(f"{reason_label(reason)} ({len(rows)})"))
    squares: set[str] = set()
    heres = maps.latlons(m, rows["lat"], rows["lon"])
    theres = maps.latlons(m, rows["account_lat"], rows["account_lon"])  # NaN stays NaN
    for r, here, there in zip(rows.itertuples(index=False), heres, theres):
        text = _tooltip_html(r, hidden.get(str(r.visit_id), 0))
        if pd.notna(r.account_lat) and pd.notna(r.account_lon):
            folium.PolyLine([here, there], color=colour, weight=1.5, opacity=0.8).add_to(fg)
            if str(r.account) not in squares:
                squares.add(str(r.account))
                _square(there, f"客户 account: {esc(r.account)}").add_to(fg)
        folium.CircleMarker(here, radius=6, color=colour, weight=1, fill=True, fill_color=colour, fill_opacity=0.85,
                            tooltip=folium.Tooltip(text)).add_to(fg)
    fg.add_to(m)


def _bounds(rows: pd.DataFrame, plan: AuditPlan) -> tuple[float, float, float, float] | None:
    """The flagged check-ins and their accounts; with none shown, every positioned record; else None."""
    if len(rows):
        lons = pd.concat([rows["lon"], rows["account_lon"]]).dropna()
        lats = pd.concat([rows["lat"], rows["account_lat"]]).dropna()
    else:
        rec = plan.records
        lons = rec["lon"].dropna() if "lon" in rec else pd.Series(dtype=float)
        lats = rec["lat"].dropna() if "lat" in rec else pd.Series(dtype=float)
    if not len(lons) or not len(lats):
        return None
    return (float(lons.min()) - _PAD_DEG, float(lats.min()) - _PAD_DEG, float(lons.max()) + _PAD_DEG,
            float(lats.max()) + _PAD_DEG)


def audit_map(plan: AuditPlan, *, reasons: Iterable[str] | None = None, reps: Iterable[str] | None = None,
              tiles: str | None = maps.DEFAULT_TILES, max_points: int | None = MAX_POINTS,
              tianditu_key: str | None = None) -> Any:
    """The flagged check-ins of ``reps`` for ``reasons`` (None or empty: all), fit to them.

    Each flagged check-in is a circle coloured by its first shown reason, with a thin line to its account
    (a small grey square); records without a check-in position (calls) are in the tables only.  One layer
    per reason, a legend of every reason shown with its number of flags (Chinese and English).  At most
    ``max_points`` check-ins are drawn (the newest; the legend says so), so a page stays light.
    """
    import folium

    shown = shown_flags(plan, reasons=reasons, reps=reps)
    total = plan.flags.groupby("visit_id")["reason"].size() if len(plan.flags) else pd.Series(dtype=int)
    per = _per_visit(shown) if len(shown) else shown.assign(shown=[], evidence_all=[])
    hidden = {str(v): int(total.get(v, 0)) - len(s) for v, s in zip(per["visit_id"], per["shown"])}
    per = per[per["lon"].notna() & per["lat"].notna()]
    located = len(per)
    if max_points is not None and located > max_points:
        per = per.tail(max_points)  # sorted by check-in: the newest
    m = maps.base_map(tiles=tiles, bounds=_bounds(per, plan), tianditu_key=tianditu_key)
    folium.map.CustomPane(_ACCOUNT_PANE, z_index=390, pointer_events=True).add_to(m)
    first = per["reason"] if len(per) else pd.Series(dtype=object)
    for reason in [*MAP_ORDER, *sorted(set(first) - set(MAP_ORDER))]:
        if (first == reason).any():
            _add_reason_layer(m, reason, per[first == reason], hidden)
    counts = shown["reason"].value_counts()
    present = [r for r in REASONS if r in counts.index] + sorted(set(counts.index) - set(REASONS))
    if present:
        note = f"newest {len(per):,} of {located:,} drawn" if len(per) < located else ""
        items: dict[str, Any] = {f"{reason_label(r)}: {int(counts[r])}": REASON_COLOURS.get(r, "#333333")
                                 for r in present}
        items["客户 the account (grey square)"] = ("square", ACCOUNT_COLOUR)
        items["签到到客户 check-in to its account"] = ("line", "#777777")
        maps.add_legend(m, "签到按原因着色 check-ins by reason (flags)", items, note=note)
    maps.add_layer_control(m)
    return m
