"""What moving the team to the recommended bases would change in the week (the Xiamen story).

* :func:`rebased` -- the same week with each rep stationed at the base :func:`planner.solvers.bases.solve_bases`
  gives most of his accounts.
* :func:`compare` -- two plans of the same week side by side, per rep-day and per rep.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from planner import schema as S
from planner.solvers.bases import BasePlan
from planner.solvers.week.demand import WeekProblem
from planner.solvers.week.solve import WeekPlan

__all__ = ("rebased", "compare")


def rebased(problem: WeekProblem, plan: BasePlan, accounts: pd.DataFrame | None = None) -> WeekProblem:
    """``problem`` with each rep's ``base_office`` moved to the open base that serves most of his
    accounts in ``plan`` (``plan.assignment`` is aligned with ``accounts``, default
    ``problem.accounts``), each base taking the headcount the plan gives it (:func:`_staff`); a rep with
    no accounts (a manager) goes with most of the reps he manages, else stays.
    The open bases are added to the offices table."""
    acc = problem.accounts if accounts is None else accounts
    assign = plan.assignment["base"].reindex(acc.index)
    owned = (acc[S.OWNER] != S.PUBLIC_POOL) & assign.notna()
    reps = problem.reps.copy()
    new_base = reps[S.ID].map(_staff(acc.loc[owned, S.OWNER], assign[owned], plan.bases))
    if S.MANAGER in reps.columns:
        by_manager = reps.assign(_b=new_base).dropna(subset=["_b"]).groupby(S.MANAGER)["_b"].agg(
            lambda s: s.value_counts().index[0])
        new_base = new_base.fillna(reps[S.ID].map(by_manager))
    reps[S.BASE_OFFICE] = new_base.fillna(reps[S.BASE_OFFICE])
    cols = [c for c in (S.ID, S.NAME, S.LON, S.LAT) if c in plan.bases.columns]
    extra = plan.bases[~plan.bases[S.ID].isin(set(problem.offices[S.ID]))][cols]
    offices = pd.concat([problem.offices, extra], ignore_index=True) if len(extra) else problem.offices
    return dataclasses.replace(problem, reps=reps, offices=offices)


def _staff(owner: pd.Series, base: pd.Series, bases: pd.DataFrame) -> dict[str, str]:
    """Each rep to a base: pairs taken by the share of the rep's accounts the base serves, largest first,
    each base up to the headcount the plan gives it (``bases.reps``), so the team is split as planned."""
    share = pd.crosstab(owner, base, normalize="index")
    cap = dict(zip(bases[S.ID], bases["reps"].astype(int))) if "reps" in bases.columns else {}
    pairs = share.stack().sort_values(ascending=False, kind="stable")
    out: dict[str, str] = {}
    for (rep, b), _v in pairs.items():
        if rep in out or cap.get(b, len(share)) <= 0:
            continue
        out[str(rep)] = str(b)
        cap[b] = cap.get(b, len(share)) - 1
    for rep in share.index:  # every base full: the rep goes where most of his accounts are
        out.setdefault(str(rep), str(share.loc[rep].idxmax()))
    return out


def compare(before: WeekPlan, after: WeekPlan) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(per rep-day, per rep)``: base, visits, first visits, travel share and whether the day holds the
    standard, before and after; the per-rep table adds visits per day and the change."""
    keep = ["rep", "date", "visits", "new", "travel_min", "travel_share", "at_standard", "shortfall"]

    def sel(p: WeekPlan) -> pd.DataFrame:
        rd = p.rep_days
        return rd[rd["role"] == "selling"][keep]

    days = sel(before).merge(sel(after), on=["rep", "date"], how="outer", suffixes=("_before", "_after"))
    days.insert(1, "base_before", days["rep"].map(before.bases))
    days.insert(2, "base_after", days["rep"].map(after.bases))
    g = days.groupby("rep", sort=False)
    reps = pd.DataFrame({
        "base_before": g["base_before"].first(), "base_after": g["base_after"].first(),
        "days": g.size(),
        "visits_per_day_before": g["visits_before"].mean().round(2),
        "visits_per_day_after": g["visits_after"].mean().round(2),
        "days_at_8_before": g["at_standard_before"].sum().astype(int),
        "days_at_8_after": g["at_standard_after"].sum().astype(int),
        "travel_share_before": g["travel_share_before"].mean().round(3),
        "travel_share_after": g["travel_share_after"].mean().round(3),
    }).reset_index()
    reps["visits_per_day_change"] = (reps["visits_per_day_after"] - reps["visits_per_day_before"]).round(2)
    return days, reps
