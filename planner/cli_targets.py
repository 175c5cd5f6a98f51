"""``planner targets``: the month's forecast roll-up, gap splits and pay simulation from a shell.

    planner targets --month 2026-11 --out out/targets [--data DIR] [--months 3]
                    [--override REP=INDEX ...] [--team-override MANAGER=INDEX ...] [--node ID ...]
                    [--territory-total CNY]

Reads ``people``, ``forecasts``, ``actuals``, ``targets`` (and optionally
``territories``) from ``--data`` (default: the synthetic demo in
``geodata/demo/targets``; ``python -m planner.targets_demo`` rewrites it) and
writes into ``--out``:

- ``targets_YYYY-MM.xlsx``: one sheet per level (rep, supervisor, area,
  region, national: raw sum, index, adjusted forecast, target, gap; every
  level adds up to the national total), ``indices`` (history, shrunk index,
  overrides), ``gap_summary`` and ``gap_split`` (the elephant per manager,
  group and month), ``pay_summary``, ``pay`` and ``tiers`` (gold/silver/bronze
  over the history: a row per rep, months across; the tier a month earns sets
  the next month's rate), ``hoarding`` and, with territories, ``territories``;
- ``summary.json``: the same in brief.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd


def _index_pairs(items: list[str], flag: str) -> dict[str, float]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{flag} {item!r} is not ID=INDEX (e.g. {flag} R05=0.5)")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise ValueError(f"{flag} {item!r}: {v!r} is not a number") from None
    return out


def _money(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in df.columns:
        if str(c).endswith("_cny") and pd.api.types.is_float_dtype(df[c]):
            df[c] = df[c].round(0)
        elif c in ("index", "team_index", "ratio", "rate", "effective_rate", "next_rate", "cv", "dispersion",
                   "team_dispersion", "pattern_share", "mean_deals", "deal_cny") and \
                pd.api.types.is_float_dtype(df[c]):
            df[c] = df[c].round(3)
    return df


def run(args: argparse.Namespace) -> int:
    from planner import targets as T, targets_demo

    t0 = time.perf_counter()
    month = T.check_month(args.month, name="--month")
    if args.months < 1:
        raise ValueError("--months must be at least 1")
    data_dir = Path(args.data) if args.data else targets_demo.targets_dir()
    data = T.read_tables(data_dir)
    opt = T.RollupOptions(overrides=_index_pairs(args.override, "--override"),
                          team_overrides=_index_pairs(args.team_override, "--team-override"))
    r = T.rollup(data, month, opt)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # the elephant for each chosen manager
    nodes = args.node or T.split_nodes(r)
    hist = T.team_history(data, r)
    splits, split_rows, summary_rows = [], [], []
    for node in nodes:
        if node not in r.org.index:
            raise ValueError(f"--node {node!r} is not in the people table")
        plan = T.split_gap(T.gap_problem(data, r, node, months=args.months, history=hist))
        splits.append((node, plan))
        pb = plan.problem
        summary_rows.append({"manager": node, "name": r.node(node)["name"], "target_cny": pb.target_cny,
                             "run_rate_cny": pb.run_rate_cny, "gap_cny": plan.gap_cny, "deal_cny": pb.deal_cny,
                             "months": pb.months, "groups": len(pb.groups), "stretch_deals": sum(pb.stretch_deals),
                             "deals_needed": plan.deals_needed, "planned_deals": plan.planned_deals,
                             "shortfall_deals": plan.shortfall_deals, "shortfall_cny": plan.shortfall_cny,
                             "months_needed": plan.months_needed, "status": plan.report.status, "text": plan.text})
        split_rows.append(plan.split.assign(manager=node, deal_cny=pb.deal_cny))
    gap_summary = pd.DataFrame(summary_rows)
    gap_split = pd.concat(split_rows, ignore_index=True) if split_rows else pd.DataFrame()
    if len(gap_split):
        gap_split = gap_split[["manager", "group", "month_no", T.MONTH, "stretch_deals", "new_deals", "extra_deals",
                               "extra_cny", "deal_cny"]]

    # pay and hoarding over the months before the one planned
    past = data.actuals[data.actuals[T.MONTH] < month]
    pay = T.simulate_pay(past)
    pay_sum = T.pay_summary(pay)
    team = data.people.set_index("id")["manager"]
    hoard = T.hoarding_flags(past, team)
    terr = (T.territory_targets(data.territories, total_cny=args.territory_total)
            if data.territories is not None else None)

    xlsx = out / f"targets_{month}.xlsx"
    with pd.ExcelWriter(xlsx, engine="openpyxl") as xw:
        for lv in r.levels:
            _money(r.level(lv)).to_excel(xw, sheet_name=lv[:31], index=False)
        ind = r.indices.merge(r.nodes[["id", "name", "has_forecast"]], left_on=T.PERSON, right_on="id")
        ind = ind[ind["has_forecast"] | ind["override"].notna() | (ind["history_months"] > 0)]
        _money(ind.drop(columns=["id"])).to_excel(xw, sheet_name="indices", index=False)
        _money(gap_summary).to_excel(xw, sheet_name="gap_summary", index=False)
        _money(gap_split).to_excel(xw, sheet_name="gap_split", index=False)
        _money(pay_sum).to_excel(xw, sheet_name="pay_summary", index=False)
        if len(pay):  # a row per rep, months across: pay, and the tier each month earned (next month's rate)
            pay.pivot(index=T.PERSON, columns=T.MONTH, values="pay_cny").round(0).reset_index().to_excel(
                xw, sheet_name="pay", index=False)
            pay.pivot(index=T.PERSON, columns=T.MONTH, values="tier").reset_index().to_excel(
                xw, sheet_name="tiers", index=False)
        _money(hoard).to_excel(xw, sheet_name="hoarding", index=False)
        if terr is not None:
            _money(terr).to_excel(xw, sheet_name="territories", index=False)

    totals = r.totals()
    levels = {}
    for lv in r.levels:
        t = r.level(lv)
        levels[lv] = {"rows": int(len(t)), **{c: round(float(t[c].sum()), 2)
                                             for c in ("raw_cny", "adjusted_cny", "target_cny", "gap_cny")}}
    nd = r.nodes
    over = nd[nd["index_source"] == "override"]
    hist_idx = r.indices.set_index(T.PERSON)
    flagged = hoard[hoard["flagged"]] if len(hoard) else hoard
    summary = {
        "month": month, "data": str(data_dir), "synthetic": bool(data.people["synthetic"].all()),
        "people": int(len(nd)), "forecasting": int(nd["has_forecast"].sum()),
        "totals": {k: round(v, 2) for k, v in totals.items()},
        "levels": levels,
        "indices": {
            "rule": "index = clip((n*ratio + k)/(n + k), min, max); ratio = actual/forecast over the last "
                    f"{opt.index.window_months} months, k = {opt.index.prior_months:g}, "
                    f"clip {opt.index.min_index:g}..{opt.index.max_index:g}",
            "from_history": int(((nd["index_source"] == "history") & nd["has_forecast"]).sum()),
            "prior_only": int(((nd["index_source"] == "prior") & nd["has_forecast"]).sum()),
            "overridden": [{"rep": p, "index": float(v),
                            "history_index": round(float(hist_idx.at[p, "history_index"]), 3)}
                           for p, v in zip(over["id"], over["index"])],
            "team_overrides": dict(opt.team_overrides),
        },
        "gap_splits": [{"manager": n, **{k: (round(v, 2) if isinstance(v, float) else v)
                                         for k, v in p.to_dict().items() if k != "report"},
                        "status": p.report.status, "violated": list(p.report.violated)} for n, p in splits],
        "pay": {"months": [str(pay[T.MONTH].min()), str(pay[T.MONTH].max())] if len(pay) else [],
                "reps": int(pay_sum[T.PERSON].nunique()) if len(pay_sum) else 0,
                "total_pay_cny": round(float(pay["pay_cny"].sum()), 2) if len(pay) else 0.0,
                "gold_months": int((pay["tier"] == "gold").sum()) if len(pay) else 0},
        "hoarding": {"assessed": int(len(hoard)),
                     "flagged": [{"rep": p, "reason": why} for p, why in zip(flagged.get(T.PERSON, []),
                                                                            flagged.get("reason", []))]},
        "territories": (terr[["id", "name", "market_stage", "potential_cny", "target_cny"]].to_dict("records")
                        if terr is not None else []),
        "workbook": xlsx.name,
    }
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=float),
                                      encoding="utf-8")

    print(f"Targets for {month} ({len(nd)} people, {int(nd['has_forecast'].sum())} forecasting"
          f"{', synthetic data' if summary['synthetic'] else ''})")
    print(f"  raw forecast {totals['raw_cny']:>14,.0f}   adjusted {totals['adjusted_cny']:>14,.0f}   "
          f"target {totals['target_cny']:>14,.0f}   gap {totals['gap_cny']:>14,.0f}")
    if len(over):
        print(f"  overridden indices: {', '.join(f'{p}={v:g}' for p, v in zip(over['id'], over['index']))}")
    for n, p in splits[:10]:
        print(f"  {n}: {p.text}")
    if len(splits) > 10:
        print(f"  ... {len(splits) - 10} more gap splits in the workbook")
    if len(flagged):
        print(f"  possible hoarding: {', '.join(flagged[T.PERSON].astype(str).tolist()[:10])}"
              f"{' ...' if len(flagged) > 10 else ''}")
    print(f"Wrote {xlsx} and {out / 'summary.json'} ({time.perf_counter() - t0:.1f} s)")
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``targets`` sub-command to an argparse sub-parsers object."""
    p = subparsers.add_parser(
        "targets", help="roll up the month's forecasts, split gaps into deals, simulate pay",
        description="Roll this month's forecasts up the reporting tree with confidence indices (from history, "
                    "or overridden), split each area's gap to target into extra deals per group and month "
                    "('eating the elephant'), simulate gold/silver/bronze pay and flag possible deal "
                    "hoarding. Writes targets_MONTH.xlsx (a sheet per level) and summary.json into --out.")
    p.add_argument("--month", required=True, help="the month planned, YYYY-MM (forecasts must exist for it)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--data", default=None, help="folder with people, forecasts, actuals, targets "
                   "[, territories] as CSV/Excel (default: the synthetic demo, geodata/demo/targets)")
    p.add_argument("--months", type=int, default=3, help="months to close each gap (default 3)")
    p.add_argument("--override", action="append", default=[], metavar="REP=INDEX",
                   help="a supervisor's confidence index for a rep (repeatable)")
    p.add_argument("--team-override", action="append", default=[], metavar="MANAGER=INDEX",
                   help="an index on a whole team as reported upward (repeatable)")
    p.add_argument("--node", action="append", default=[], metavar="ID",
                   help="manager whose gap to split over his reports (repeatable; default: every area manager)")
    p.add_argument("--territory-total", type=float, default=None, metavar="CNY",
                   help="share this monthly total over the territories by potential x ramp stage "
                        "(default: each territory's potential x its stage multiplier)")
    p.set_defaults(func=run)
    return p
