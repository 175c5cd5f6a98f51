"""Where the accounts are and how far they sit from a base: the demo's first answer.

``account_summary(accounts)`` counts accounts by prefecture, county and class
(with potential); ``filter_accounts`` picks a segment; ``planner.solvers.density.reach``
gives the travel times and shares. Pure functions of canonical tables; the maps
and the CLI only display them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import overload

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


@overload
def filter_accounts(accounts: pd.DataFrame, located: None = None, *, prefecture: str | None = None,
                    classes: Iterable[str] | None = None, statuses: Iterable[str] | None = None,
                    industry: str | None = None) -> pd.DataFrame: ...


@overload
def filter_accounts(accounts: pd.DataFrame, located: pd.DataFrame, *, prefecture: str | None = None,
                    classes: Iterable[str] | None = None, statuses: Iterable[str] | None = None,
                    industry: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]: ...


def filter_accounts(accounts: pd.DataFrame, located: pd.DataFrame | None = None, *, prefecture: str | None = None,
                    classes: Iterable[str] | None = None, statuses: Iterable[str] | None = None,
                    industry: str | None = None) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
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
