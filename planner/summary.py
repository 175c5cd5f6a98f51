"""Where the accounts are and how far they sit from a base: the demo's first answer.

``account_summary(accounts)`` counts accounts by prefecture, county and class
(with potential); ``planner.density.reach`` gives the travel times and shares that
``format_summary`` prints. Pure functions of canonical tables; the maps and
the CLI only display them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner import geo, schema as S

def account_summary(accounts: pd.DataFrame, *, located: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per county: prefecture, county, accounts by class, total and potential.

    Accounts outside the planning counties are counted in a row with empty
    county (so the total always equals ``len(accounts)``).
    """
    loc = located if located is not None else geo.locate(accounts[S.LON], accounts[S.LAT])
    df = pd.DataFrame({
        "prefecture": loc["prefecture_name"].to_numpy(), "prefecture_adcode": loc["prefecture_adcode"].to_numpy(),
        "county": loc["county_name"].to_numpy(), "county_adcode": loc["county_adcode"].to_numpy(),
        "cls": accounts[S.CLASS].to_numpy(), "potential": accounts[S.POTENTIAL_CNY].to_numpy(float),
    })
    by_cls = pd.crosstab([df.prefecture_adcode, df.prefecture, df.county_adcode, df.county], df.cls)
    for c in S.CLASSES:
        if c not in by_cls:
            by_cls[c] = 0
    by_cls = by_cls[list(S.CLASSES)]
    out = by_cls.assign(accounts=by_cls.sum(axis=1))
    out["potential_cny"] = df.groupby(["prefecture_adcode", "prefecture", "county_adcode", "county"])[
        "potential"].sum()
    out = out.reset_index().sort_values("accounts", ascending=False, kind="stable").reset_index(drop=True)
    out.columns.name = None
    out["share"] = out["accounts"] / max(len(accounts), 1)
    return out


def _pad(text: str, width: int) -> str:
    """Left-justify by display width (CJK characters take two columns)."""
    import unicodedata

    w = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - w, 0)


def format_summary(summary: pd.DataFrame, rch, base_name: str, *, top: int = 15) -> str:
    """Plain-text report for the terminal (``rch``: a ``planner.density.ReachResult``)."""
    lines = []
    total = int(summary["accounts"].sum())
    lines.append(f"Accounts: {total}")
    pref = summary.groupby("prefecture", sort=False)[["accounts", *S.CLASSES]].sum()
    pref = pref.sort_values("accounts", ascending=False)
    lines.append("\nBy prefecture            accounts   share     A     B     C")
    for name, r in pref.iterrows():
        label = name or "(outside planning counties)"
        lines.append(f"  {_pad(label, 22)}{int(r.accounts):>8} {r.accounts / max(total, 1):>7.1%} "
                     f"{int(r.A):>5} {int(r.B):>5} {int(r.C):>5}")
    lines.append(f"\nTop {min(top, len(summary))} counties         accounts   share     A     B     C")
    for _, r in summary.head(top).iterrows():
        label = f"{r.county or '(none)'} ({r.prefecture or '-'})"
        lines.append(f"  {_pad(label, 22)}{int(r.accounts):>8} {r.share:>7.1%} {int(r.A):>5} {int(r.B):>5} {int(r.C):>5}")
    lines.append(f"\nReach from {base_name} (one way, great-circle x detour, speed bands):")
    for th, sh in rch.shares.items():
        lines.append(f"  within {th:>3} min: {sh:6.1%} of accounts")
    lines.append(f"  median {rch.time_min.median():.0f} min, 90th percentile {rch.time_min.quantile(0.9):.0f} min")
    return "\n".join(lines)


def filter_accounts(accounts: pd.DataFrame, located: pd.DataFrame | None = None, *, prefecture: str | None = None,
                    classes=None, statuses=None, industry: str | None = None):
    """The accounts of a segment: in ``prefecture`` (adcode; None = all), of ``classes``,
    ``statuses`` and ``industry`` (None or empty = all). Returns (accounts, located) when
    ``located`` is given, else the accounts."""
    keep = np.ones(len(accounts), dtype=bool)
    if prefecture:
        if located is None:
            raise ValueError("filtering by prefecture needs the located frame (geo.locate)")
        keep &= (located["prefecture_adcode"] == prefecture).to_numpy()
    if classes is not None:
        keep &= accounts[S.CLASS].isin(list(classes)).to_numpy()
    if statuses is not None:
        keep &= accounts[S.STATUS].isin(list(statuses)).to_numpy()
    if industry:
        keep &= (accounts[S.INDUSTRY] == industry).to_numpy()
    if located is None:
        return accounts[keep]
    return accounts[keep], located[keep]
