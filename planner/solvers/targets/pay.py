"""Targets pay: gold/silver/bronze commission simulation and deal-hoarding flags.

``simulate_pay`` (a month's result sets the next month's rate), ``pay_summary``
and ``hoarding_flags`` (``HoardingRules``: bunched deals, releases just over a
threshold after a dry month). Re-exported by :mod:`planner.solvers.targets`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.errors import raise_if_any
from planner.solvers.targets.tables import ACTUAL_CNY, DEALS, MONTH, PERSON, month_span

TIERS = ("none", "bronze", "silver", "gold")


@dataclass(frozen=True, kw_only=True)
class PayRules:
    """Gold/silver/bronze: a month's result sets the next month's commission rate.

    Gold at 100,000 CNY a month is the source's figure; the other thresholds
    and all rates are assumptions, to be set per company.
    """

    bronze_cny: float = 30_000.0
    silver_cny: float = 60_000.0
    gold_cny: float = 100_000.0
    base_rate: float = 0.05
    bronze_rate: float = 0.08
    silver_rate: float = 0.10
    gold_rate: float = 0.12
    start_tier: str = "none"

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.bronze_cny < self.silver_cny < self.gold_cny:
            problems.append("thresholds must satisfy 0 < bronze_cny < silver_cny < gold_cny")
        rates = (self.base_rate, self.bronze_rate, self.silver_rate, self.gold_rate)
        if not all(0 <= x <= 1 for x in rates):
            problems.append("rates must be within 0..1")
        if list(rates) != sorted(rates):
            problems.append("rates must not fall from base to gold")
        if self.start_tier not in TIERS:
            problems.append(f"start_tier must be one of {', '.join(TIERS)}")
        raise_if_any(problems, what="pay rules")

    @property
    def thresholds(self) -> tuple[float, float, float]:
        return (self.bronze_cny, self.silver_cny, self.gold_cny)

    def tier(self, result_cny: float) -> str:
        return TIERS[int(np.searchsorted(self.thresholds, result_cny, side="right"))]

    def rate(self, tier: str) -> float:
        return (self.base_rate, self.bronze_rate, self.silver_rate, self.gold_rate)[TIERS.index(tier)]


def monthly_results(actuals: pd.DataFrame, column: str = ACTUAL_CNY) -> pd.DataFrame:
    """reps x months of ``column``; months inside a rep's first..last month with no row are 0, outside NaN."""
    if actuals.empty:
        return pd.DataFrame()
    months = month_span(min(actuals[MONTH]), max(actuals[MONTH]))
    mat = actuals.pivot_table(index=PERSON, columns=MONTH, values=column, aggfunc="sum").reindex(columns=months)
    first = actuals.groupby(PERSON)[MONTH].min()
    last = actuals.groupby(PERSON)[MONTH].max()
    cols = np.array(months)
    inside = (cols[None, :] >= first.reindex(mat.index).to_numpy()[:, None]) & \
             (cols[None, :] <= last.reindex(mat.index).to_numpy()[:, None])
    return mat.where(~(inside & mat.isna()), 0.0)


def simulate_pay(actuals: pd.DataFrame, rules: PayRules | None = None) -> pd.DataFrame:
    """Month by month: ``tier`` earned by the result, ``rate_tier`` set by last month, ``pay_cny``.

    A rep's first month is paid at ``rules.start_tier``; a month with no row
    inside the rep's span is a result of 0 (it earns no tier).
    """
    rules = rules or PayRules()
    cols = [PERSON, MONTH, "result_cny", "tier", "rate_tier", "rate", "pay_cny"]
    mat = monthly_results(actuals)
    if mat.empty:
        return pd.DataFrame(columns=cols)
    x = mat.to_numpy(float)
    valid = ~np.isnan(x)
    tier = np.searchsorted(np.array(rules.thresholds), np.nan_to_num(x), side="right")
    prev = np.full(tier.shape, TIERS.index(rules.start_tier))
    prev[:, 1:] = np.where(valid[:, :-1], tier[:, :-1], prev[:, 1:])  # valid months are contiguous
    rates = np.array([rules.rate(t) for t in TIERS])
    r_i, m_i = np.nonzero(valid)
    names = np.array(TIERS, dtype=object)
    out = pd.DataFrame({PERSON: mat.index.to_numpy()[r_i], MONTH: mat.columns.to_numpy()[m_i],
                        "result_cny": x[r_i, m_i], "tier": names[tier[r_i, m_i]],
                        "rate_tier": names[prev[r_i, m_i]], "rate": rates[prev[r_i, m_i]]})
    out["pay_cny"] = out["result_cny"] * out["rate"]
    return out[cols]


def pay_summary(pay: pd.DataFrame, rules: PayRules | None = None) -> pd.DataFrame:
    """Per rep: result and pay, months per tier, the pay had the same total come evenly
    (``even_pay_cny``: the scheme pays for steady months, so bunching costs the rep), and
    the tier and rate the last month sets for the next (``next_rate_tier``, ``next_rate``)."""
    rules = rules or PayRules()
    if pay.empty:
        return pd.DataFrame(columns=[PERSON, "months", "result_cny", "pay_cny"])
    by = pay.groupby(PERSON, sort=True)
    out = by.agg(months=(MONTH, "size"), result_cny=("result_cny", "sum"), pay_cny=("pay_cny", "sum"))
    for tier in TIERS[1:]:
        out[f"{tier}_months"] = (pay["tier"] == tier).groupby(pay[PERSON]).sum().astype(int)
    out["effective_rate"] = np.where(out["result_cny"] > 0, out["pay_cny"] / out["result_cny"].where(
        out["result_cny"] > 0, 1.0), 0.0)
    rates = np.array([rules.rate(t) for t in TIERS])
    even = out["result_cny"] / out["months"]
    even_tier = np.searchsorted(np.array(rules.thresholds), even.to_numpy(), side="right")
    out["even_pay_cny"] = even * (rules.rate(rules.start_tier) + (out["months"] - 1) * rates[even_tier])
    out["cost_of_bunching_cny"] = out["even_pay_cny"] - out["pay_cny"]
    last = pay.sort_values([PERSON, MONTH], kind="stable").groupby(PERSON).tail(1).set_index(PERSON)
    out["last_month"] = last[MONTH]
    out["next_rate_tier"] = last["tier"]
    out["next_rate"] = last["tier"].map(dict(zip(TIERS, rates)))
    return out.reset_index()


@dataclass(frozen=True, kw_only=True)
class HoardingRules:
    """When a rep's deals look held back for a better month (``hoarding_flags``).

    Rule A (bunching): the deals a month are over-dispersed. A rep who closes
    deals as they come has monthly counts close to Poisson, whose variance
    equals its mean whatever the rep's volume; holding deals back and releasing
    them together makes the variance much larger. With the dispersion
    ``D = sample variance / mean`` of the rep's monthly deal counts, flag when
    ``D >= max(min_dispersion, dispersion_factor x the team's median D)``
    (team: people with the same manager; the whole table when fewer than 3 of
    them are assessed). The coefficient of variation of the results (``cv``)
    is shown but not used: it is high for any low-volume rep.
    Rule B (release after a dry month): at least ``min_patterns`` months, and
    at least ``min_pattern_share`` of the months that follow a dry month, land
    within ``just_above_share`` above a tier threshold right after a month
    below ``near_zero_share`` x the bronze threshold.
    Reps with fewer than ``min_months`` months are not assessed.
    """

    dispersion_factor: float = 2.0
    min_dispersion: float = 3.5
    near_zero_share: float = 0.1
    just_above_share: float = 0.1
    min_patterns: int = 4
    min_pattern_share: float = 0.5
    min_months: int = 6

    def __post_init__(self) -> None:
        problems = []
        if self.dispersion_factor <= 0 or self.min_dispersion < 0:
            problems.append("dispersion_factor must be > 0 and min_dispersion >= 0")
        if not 0 <= self.near_zero_share < 1 or not 0 < self.just_above_share < 1:
            problems.append("near_zero_share must be in 0..1 and just_above_share in (0, 1)")
        if self.min_patterns < 1 or not 0 <= self.min_pattern_share <= 1 or self.min_months < 3:
            problems.append("min_patterns must be >= 1, min_pattern_share in 0..1 and min_months >= 3")
        raise_if_any(problems, what="hoarding rules")


def hoarding_flags(actuals: pd.DataFrame, team: Mapping[str, str] | pd.Series | None = None, *,
                   rules: HoardingRules | None = None, pay_rules: PayRules | None = None) -> pd.DataFrame:
    """One row per rep: ``dispersion``, ``team_dispersion``, ``cv``, ``patterns`` (rule B months),
    ``flagged`` and ``reason`` (``HoardingRules`` states the rules)."""
    rules = rules or HoardingRules()
    pr = pay_rules or PayRules()
    res = monthly_results(actuals)
    if res.empty:
        return pd.DataFrame(columns=[PERSON, "months", "flagged", "reason"])
    cnt = monthly_results(actuals, DEALS).reindex(index=res.index, columns=res.columns)
    x, d = res.to_numpy(float), cnt.to_numpy(float)
    valid = ~np.isnan(x)
    n = valid.sum(axis=1)
    x0, d0 = np.where(valid, x, 0.0), np.where(valid, d, 0.0)
    mean = x0.sum(axis=1) / np.maximum(n, 1)
    std = np.sqrt(np.maximum((x0 ** 2).sum(axis=1) / np.maximum(n, 1) - mean ** 2, 0.0))
    dm = d0.sum(axis=1) / np.maximum(n, 1)
    dvar = np.maximum((d0 ** 2).sum(axis=1) - n * dm ** 2, 0.0) / np.maximum(n - 1, 1)
    disp = np.where((n > 1) & (dm > 0), dvar / np.where(dm > 0, dm, 1.0), 0.0)
    both = valid[:, :-1] & valid[:, 1:]
    dry = both & (x0[:, :-1] < rules.near_zero_share * pr.bronze_cny)
    nxt = x0[:, 1:]
    just = np.zeros(nxt.shape, dtype=bool)
    for th in pr.thresholds:
        just |= (nxt >= th) & (nxt <= th * (1 + rules.just_above_share))
    pat = dry & just
    n_pat = pat.sum(axis=1)
    share = n_pat / np.maximum(dry.sum(axis=1), 1)
    months = res.columns.to_numpy()[1:]
    teams = pd.Series(team) if team is not None and not isinstance(team, pd.Series) else team
    out = pd.DataFrame({PERSON: res.index.to_numpy(), "months": n, "mean_cny": mean, "mean_deals": dm,
                        "cv": np.where(mean > 0, std / np.where(mean > 0, mean, 1.0), 0.0), "dispersion": disp,
                        "patterns": [", ".join(months[row]) for row in pat], "pattern_share": share,
                        "team": (teams.reindex(res.index).fillna("").astype(str).to_numpy() if teams is not None
                                 else "")})
    assessed = out["months"] >= rules.min_months
    overall = float(out.loc[assessed, "dispersion"].median()) if assessed.any() else np.nan
    g = out[assessed & (out["team"] != "")].groupby("team")["dispersion"].agg(["median", "size"])
    med = g.loc[g["size"] >= 3, "median"]
    out["team_dispersion"] = out["team"].map(med).fillna(overall).astype(float)
    rule_a = assessed & (out["dispersion"] >= np.maximum(rules.min_dispersion,
                                                         rules.dispersion_factor * out["team_dispersion"]))
    rule_b = assessed & (n_pat >= rules.min_patterns) & (share >= rules.min_pattern_share)
    out["flagged"] = rule_a | rule_b
    reasons = []
    for a, b, ok, row in zip(rule_a, rule_b, assessed, out.itertuples()):
        parts = []
        if not ok:
            parts.append(f"not assessed: {row.months} month(s) < {rules.min_months}")
        if a:
            parts.append(f"deals bunch: dispersion {row.dispersion:.1f} vs team {row.team_dispersion:.1f}")
        if b:
            parts.append(f"just over a threshold after a dry month in {row.patterns}")
        reasons.append("; ".join(parts))
    out["reason"] = reasons
    return out
