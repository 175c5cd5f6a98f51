"""An organisation's tables split into named partitions: by team, city or region.

:func:`partition` takes the canonical ``accounts``, ``reps`` and ``offices`` (as
``planner.io.workspace`` loads them) and returns a :class:`Partitioning`: the partitions in a
deterministic order (natural sort of their names), and a ``left_out`` table giving every input row
that is in no partition its reason. Nothing is lost: every account and every rep is in exactly one
partition or left out; every office is in at least one partition or left out.

What a partition is, by ``by``:

- ``team``: the reps' ``team``. A rep with no team takes the team of the nearest manager above him
  (the ``manager`` column: the team tree); a rep with no team anywhere above him is left out ("no
  team"). Teams are not places, so every office is shared by every team partition (bases and
  candidate sites are reference rows).
- ``city``: the prefecture-level unit of the rep's base office: the office's ``adcode`` (or, when it
  has none, the county its point lies in), the county's parent in the admin table
  (``planner.geo.admin_units``; this is the first four digits + ``00`` for most counties, but it is
  right where that rule is not: Chongqing's counties have no prefecture, Dongguan and Xiantao are
  prefecture-level themselves); the first four digits + ``00`` for a code the table does not know.
- ``region``: the organisation's own sales region (大区) of that city when a ``markets`` table
  declares one (its ``region`` column by city adcode: a region is a group of key cities that may
  cross provinces, DOMAIN.md section 4, and the organisation's own grouping is the better unit when
  it has one); otherwise the province (the first two digits + ``0000``).

For ``city`` and ``region`` a partition holds the offices of its area (candidate sites too) and its
reps' base offices; an office in no partition's area is left out. A rep whose ``base_office`` is
missing or not an office id is left out (every job needs the base).

Accounts follow their owner: an account whose owner is a rep of a partition goes with that rep; an
account whose owner was left out is left out too (with the owner's reason). An unowned account (the
public pool, or an owner who is not in the reps table) goes to the partition with the nearest base
office (a ``scipy.spatial.cKDTree`` on 3-D unit-sphere coordinates, so "nearest" is the great circle
anywhere in the country), counting only partitions with sellers when there are some; when several
partitions share that office (teams at one office), to the one that owns the nearest owned account
there (the same tree on their accounts). The ``assignment`` table records how each row was placed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from planner import schema as S
from planner.errors import InputError

By = Literal["team", "city", "region"]
BY: tuple[str, ...] = ("team", "city", "region")
LEFT_OUT_COLUMNS = ("table", S.ID, S.SOURCE_ROW, "reason")
ASSIGNMENT_COLUMNS = ("table", S.ID, "partition", "how")


@dataclass(frozen=True, eq=False)
class Partition:
    """One partition: its ``name`` (unique), ``key`` (team, city or region code), a readable ``label`` and
    its rows of the three tables (the input's columns and order)."""

    name: str
    key: str
    label: str
    accounts: pd.DataFrame
    reps: pd.DataFrame
    offices: pd.DataFrame

    @property
    def sellers(self) -> int:
        """Reps who own accounts (levels ``sales`` and ``M0``)."""
        return int(self.reps[S.LEVEL].isin(S.SELLER_LEVELS).sum()) if S.LEVEL in self.reps else len(self.reps)

    def counts(self) -> dict[str, Any]:
        pool = int((self.accounts[S.OWNER] == S.PUBLIC_POOL).sum()) if S.OWNER in self.accounts else 0
        return {"partition": self.name, "key": self.key, "label": self.label, "reps": int(len(self.reps)),
                "sellers": self.sellers, "accounts": int(len(self.accounts)), "pool_accounts": pool,
                "offices": int(len(self.offices))}


@dataclass(frozen=True, eq=False)
class Partitioning:
    """The partitions (in order), every row left out with its reason, and how every row was placed."""

    by: str
    partitions: tuple[Partition, ...]
    left_out: pd.DataFrame  # table, id, source_row, reason
    assignment: pd.DataFrame  # table, id, partition, how
    notes: tuple[str, ...] = field(default=())

    def __iter__(self) -> Iterator[Partition]:
        return iter(self.partitions)

    def __len__(self) -> int:
        return len(self.partitions)

    def __getitem__(self, name: str) -> Partition:
        for p in self.partitions:
            if p.name == name:
                return p
        raise KeyError(f"no partition {name!r} (partitions: {', '.join(self.names[:20])})")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.partitions]

    def table(self) -> pd.DataFrame:
        """One row per partition: name, key, label, reps, sellers, accounts, pool accounts, offices."""
        return pd.DataFrame([p.counts() for p in self.partitions],
                            columns=["partition", "key", "label", "reps", "sellers", "accounts", "pool_accounts",
                                     "offices"])

    def unaccounted(self, accounts: pd.DataFrame, reps: pd.DataFrame, offices: pd.DataFrame) -> list[str]:
        """Every input row that is not exactly once (accounts, reps) or at least once (offices) in a partition
        or in ``left_out``, as sentences (empty when every row is accounted for)."""
        out = []
        for table, frame, once in (("accounts", accounts, True), ("reps", reps, True), ("offices", offices, False)):
            ids = pd.concat([getattr(p, table)[S.ID] for p in self.partitions]
                            + [self.left_out.loc[self.left_out["table"] == table, S.ID]], ignore_index=True)
            seen = ids.value_counts()
            want = frame[S.ID].value_counts()
            missing = sorted(set(want.index) - set(seen.index))
            if missing:
                out.append(f"{table}: {len(missing)} rows in no partition and not left out, e.g. {missing[:5]}")
            extra = sorted(set(seen.index) - set(want.index))
            if extra:
                out.append(f"{table}: {len(extra)} ids that are not in the input, e.g. {extra[:5]}")
            if once:
                twice = sorted(i for i, k in seen.items() if k > want.get(i, 0))
                if twice:
                    out.append(f"{table}: {len(twice)} rows placed more than once, e.g. {twice[:5]}")
        return out


# --------------------------------------------------------------------------- places of the offices
def _natural(text: str) -> list[Any]:
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(text))]


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() in ("", "nan", "None", "<NA>")


def office_places(offices: pd.DataFrame) -> pd.DataFrame:
    """Per office id: ``county`` (its adcode, or the county its point lies in), ``city`` and ``city_name``
    (the prefecture-level unit, see the module docstring), ``province`` and ``province_name``; empty
    strings where the office is in no planning county."""
    from planner import geo

    units = geo.admin_units().set_index("adcode")
    code = offices[S.ADCODE].map(lambda v: "" if _blank(v) else str(v).strip()) if S.ADCODE in offices \
        else pd.Series("", index=offices.index)
    code = code.map(lambda c: str(int(float(c))) if re.fullmatch(r"\d+\.0", c) else c)
    need = (code == "").to_numpy() | ~code.isin(units.index).to_numpy()
    if need.any():
        found = geo.locate(offices.loc[need, S.LON].to_numpy(float), offices.loc[need, S.LAT].to_numpy(float))
        located = found["county_adcode"].to_numpy()
        code = code.copy()
        code[need] = np.where(code[need] == "", located, code[need])

    def city_of(c: str) -> str:
        if not c:
            return ""
        if c in units.index:
            return str(units.at[c, "parent_adcode"]) if units.at[c, "level"] == "county" else c
        return c[:4] + "00"

    city = code.map(city_of)
    prov = city.map(lambda c: c[:2] + "0000" if c else "")
    names = units["name_zh"]
    return pd.DataFrame({"county": code.to_numpy(), "city": city.to_numpy(),
                         "city_name": city.map(names).fillna("").to_numpy(), "province": prov.to_numpy(),
                         "province_name": prov.map(names).fillna("").to_numpy()},
                        index=offices[S.ID].astype(str).to_numpy())


# --------------------------------------------------------------------------- the reps' partition keys
def _teams(reps: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each rep's team, inherited from the nearest manager above him that has one; and how it was found."""
    own = reps[S.TEAM].map(lambda v: "" if _blank(v) else str(v).strip()) if S.TEAM in reps \
        else pd.Series("", index=reps.index)
    team_of = dict(zip(reps[S.ID], own))
    boss = dict(zip(reps[S.ID], reps[S.MANAGER])) if S.MANAGER in reps else {}
    teams, how = [], []
    for rid, t in zip(reps[S.ID], own):
        seen = {rid}
        cur = rid
        while not t:
            up = boss.get(cur)
            if _blank(up) or str(up) in seen or str(up) not in team_of:
                break
            cur = str(up)
            seen.add(cur)
            t = team_of[cur]
        teams.append(t)
        how.append("team" if team_of[rid] else (f"team of manager {cur}" if t else ""))
    return pd.Series(teams, index=reps.index), pd.Series(how, index=reps.index)


def _region_names(markets: pd.DataFrame | None) -> dict[str, str]:
    if markets is None or S.REGION not in markets or S.ADCODE not in markets:
        return {}
    m = markets[~markets[S.REGION].map(_blank)]
    return {str(a).strip(): str(r).strip() for a, r in zip(m[S.ADCODE], m[S.REGION])}


def _rep_keys(reps: pd.DataFrame, offices: pd.DataFrame, by: str, places: pd.DataFrame,
              markets: pd.DataFrame | None) -> tuple[pd.Series, pd.Series, pd.Series, dict[str, str]]:
    """Per rep: the partition key ("" = left out), how it was found or why left out, and key -> label."""
    base = reps[S.BASE_OFFICE].map(lambda v: "" if _blank(v) else str(v).strip()) if S.BASE_OFFICE in reps \
        else pd.Series("", index=reps.index)
    office_ids = set(offices[S.ID].astype(str))
    no_base = base.map(lambda b: "no base office" if not b else ("" if b in office_ids else
                                                                 f"base office {b!r} is not in the offices table"))
    labels: dict[str, str] = {}
    if by == "team":
        key, how = _teams(reps)
        why = no_base.where(no_base != "", key.map(lambda t: "" if t else "no team (none above him either)"))
        labels = {k: k for k in key[key != ""]}
    else:
        city = base.map(places["city"]).fillna("")
        out_of_area = city.map(lambda c: "" if c else "base office in no planning county")
        why = no_base.where(no_base != "", out_of_area)
        if by == "city":
            key = city
            labels = {c: f"{c} {n}".strip() for c, n in zip(places["city"], places["city_name"]) if c}
            how = pd.Series("city of the base office", index=reps.index)
        else:
            regions = _region_names(markets)
            key = city.map(lambda c: regions.get(c) or (c[:2] + "0000" if c else ""))
            names = dict(zip(places["province"], places["province_name"]))
            labels = {k: (k if not k[:6].isdigit() else f"{k} {names.get(k, '')}".strip()) for k in set(key) if k}
            how = city.map(lambda c: "region of the city (markets)" if c in regions else "province of the city")
    key = key.where(why == "", "")
    return key, how, why, labels


# --------------------------------------------------------------------------- accounts without an owner
def _unit_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(np.asarray(lon, float)), np.radians(np.asarray(lat, float))
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def _nearest_partitions(acc: pd.DataFrame, todo: np.ndarray, part_of_acc: np.ndarray, reps: pd.DataFrame,
                        rep_part: pd.Series, offices: pd.DataFrame, sellers: set[int]) -> np.ndarray:
    """Partition index (-1: none) of each unowned account ``todo`` (positions in ``acc``): nearest base office
    of a partition (with sellers when there are some); ties between partitions at that office broken by
    their nearest owned account."""
    from scipy.spatial import cKDTree

    out = np.full(len(todo), -1, dtype=np.int64)
    kept = rep_part >= 0
    hosts: dict[str, list[int]] = {}
    for b, p in zip(reps.loc[kept, S.BASE_OFFICE].astype(str), rep_part[kept]):
        hosts.setdefault(b, [])
        if int(p) not in hosts[b]:
            hosts[b].append(int(p))
    if sellers:
        hosts = {b: [p for p in ps if p in sellers] for b, ps in hosts.items()}
        hosts = {b: ps for b, ps in hosts.items() if ps}
    if not hosts or not len(todo):
        return out
    off = offices.drop_duplicates(S.ID).set_index(offices.drop_duplicates(S.ID)[S.ID].astype(str))
    ids = sorted(hosts)
    xyz = _unit_xyz(acc[S.LON].to_numpy(float)[todo], acc[S.LAT].to_numpy(float)[todo])
    _, near = cKDTree(_unit_xyz(off.loc[ids, S.LON].to_numpy(float), off.loc[ids, S.LAT].to_numpy(float))).query(xyz)
    owned_xyz = _unit_xyz(acc[S.LON].to_numpy(float), acc[S.LAT].to_numpy(float))
    for j, office in enumerate(ids):
        rows = np.flatnonzero(near == j)
        parts = sorted(hosts[office])
        if len(parts) == 1 or not len(rows):
            out[rows] = parts[0]
            continue
        mine = np.flatnonzero(np.isin(part_of_acc, parts))
        if not len(mine):
            out[rows] = parts[0]
            continue
        _, k = cKDTree(owned_xyz[mine]).query(xyz[rows])
        out[rows] = part_of_acc[mine[k]]
    return out


def _place_accounts(acc: pd.DataFrame, reps: pd.DataFrame, rep_part: pd.Series, rep_why: pd.Series,
                    offices: pd.DataFrame, sellers: set[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per account: partition index (-1: left out), how it was placed, and why it was left out."""
    owner = acc[S.OWNER].map(lambda v: S.PUBLIC_POOL if _blank(v) else str(v).strip()).to_numpy() \
        if S.OWNER in acc else np.full(len(acc), S.PUBLIC_POOL, dtype=object)
    part_by_rep = dict(zip(reps[S.ID].astype(str), rep_part))
    why_by_rep = dict(zip(reps[S.ID].astype(str), rep_why))
    part = np.array([part_by_rep.get(o, -1) for o in owner], dtype=np.int64)
    known = np.array([o in part_by_rep for o in owner], dtype=bool)
    how = np.where(known & (part >= 0), "owner", "").astype(object)
    why = np.array([f"owner {o} left out: {why_by_rep[o]}" if k and p < 0 else "" for o, k, p in
                    zip(owner, known, part)], dtype=object)
    todo = np.flatnonzero(~known)
    if len(todo):
        part[todo] = _nearest_partitions(acc, todo, np.where(known, part, -1), reps, rep_part, offices, sellers)
        pool = owner[todo] == S.PUBLIC_POOL
        how[todo] = np.where(pool, "nearest base office (public pool)", "nearest base office (owner not in reps)")
        why[todo[part[todo] < 0]] = "no partition has a rep to take it"
    return part, how, why


# --------------------------------------------------------------------------- the split
def _office_parts(offices: pd.DataFrame, places: pd.DataFrame, by: str, keys: list[str], reps: pd.DataFrame,
                  rep_key: pd.Series, markets: pd.DataFrame | None) -> list[np.ndarray]:
    """Per partition, the rows (positions) of the offices it holds."""
    n = len(offices)
    if by == "team":
        return [np.arange(n)] * len(keys)
    regions = _region_names(markets)
    city = places["city"].to_numpy()
    area = city if by == "city" else np.array([regions.get(c) or (c[:2] + "0000" if c else "") for c in city])
    ids = offices[S.ID].astype(str).to_numpy()
    out = []
    for k in keys:
        bases = set(reps.loc[rep_key == k, S.BASE_OFFICE].astype(str))
        out.append(np.flatnonzero((area == k) | np.isin(ids, list(bases))))
    return out


def _left_out(table: str, frame: pd.DataFrame, mask: np.ndarray, why: np.ndarray) -> pd.DataFrame:
    rows = frame[mask]
    src = rows[S.SOURCE_ROW].to_numpy() if S.SOURCE_ROW in rows else np.full(len(rows), pd.NA)
    return pd.DataFrame({"table": table, S.ID: rows[S.ID].astype(str).to_numpy(), S.SOURCE_ROW: src,
                         "reason": np.asarray(why)[mask]}, columns=list(LEFT_OUT_COLUMNS))


def _check_tables(accounts: pd.DataFrame, reps: pd.DataFrame, offices: pd.DataFrame, by: str) -> None:
    problems = [] if by in BY else [f"by must be one of {', '.join(BY)}, got {by!r}"]
    for name, frame, cols in (("accounts", accounts, (S.ID, S.LON, S.LAT)), ("reps", reps, (S.ID,)),
                              ("offices", offices, (S.ID, S.LON, S.LAT))):
        miss = [c for c in cols if c not in frame.columns]
        if miss:
            problems.append(f"{name}: missing column(s) {', '.join(miss)}")
    if problems:
        raise InputError(problems, what="partition")


def partition(accounts: pd.DataFrame, reps: pd.DataFrame, offices: pd.DataFrame, *, by: str = "team",
              markets: pd.DataFrame | None = None) -> Partitioning:
    """Split the organisation's tables by ``team``, ``city`` or ``region`` (see the module docstring).
    ``markets`` (optional) declares the sales regions of cities for ``by="region"``."""
    _check_tables(accounts, reps, offices, by)
    reps = reps.reset_index(drop=True)
    places = office_places(offices) if by != "team" else pd.DataFrame(
        {"city": []}, index=pd.Index([], dtype=object))
    key, how_rep, why_rep, labels = _rep_keys(reps, offices, by, places, markets)
    keys = sorted({k for k in key if k}, key=_natural)
    index = {k: i for i, k in enumerate(keys)}
    rep_part = key.map(lambda k: index.get(k, -1)).astype(np.int64)
    sellers = {int(p) for p, lv in zip(rep_part, reps.get(S.LEVEL, pd.Series("sales", index=reps.index)))
               if p >= 0 and lv in S.SELLER_LEVELS}
    acc = accounts.reset_index(drop=True)
    acc_part, how_acc, why_acc = _place_accounts(acc, reps, rep_part, why_rep, offices, sellers)
    office_rows = _office_parts(offices.reset_index(drop=True), places.reindex(offices[S.ID].astype(str)),
                                by, keys, reps, key, markets) if keys else []
    offices = offices.reset_index(drop=True)
    in_any = np.zeros(len(offices), dtype=bool)
    for rows in office_rows:
        in_any[rows] = True
    parts = _build(keys, labels, acc, acc_part, reps, rep_part, offices, office_rows)
    left = pd.concat([
        _left_out("accounts", acc, acc_part < 0, why_acc),
        _left_out("reps", reps, (rep_part < 0).to_numpy(), why_rep.to_numpy()),
        _left_out("offices", offices, ~in_any, np.full(len(offices), f"no rep based in its {by}", dtype=object))],
        ignore_index=True)
    assignment = _assignment([p.name for p in parts], acc, acc_part, how_acc, reps, rep_part, how_rep, offices,
                             office_rows, by)
    notes = _notes(by, len(keys), sellers, left)
    return Partitioning(by=by, partitions=tuple(parts), left_out=left, assignment=assignment, notes=notes)


def _build(keys: list[str], labels: Mapping[str, str], acc: pd.DataFrame, acc_part: np.ndarray, reps: pd.DataFrame,
           rep_part: pd.Series, offices: pd.DataFrame, office_rows: list[np.ndarray]) -> list[Partition]:
    acc_groups = {int(k): g for k, g in acc.groupby(acc_part, sort=True) if k >= 0}
    rep_groups = {int(k): g for k, g in reps.groupby(rep_part.to_numpy(), sort=True) if k >= 0}
    empty_acc, empty_rep = acc.iloc[:0], reps.iloc[:0]
    return [Partition(name=labels.get(k, k), key=k, label=labels.get(k, k),
                      accounts=acc_groups.get(i, empty_acc).reset_index(drop=True),
                      reps=rep_groups.get(i, empty_rep).reset_index(drop=True),
                      offices=offices.iloc[office_rows[i]].reset_index(drop=True))
            for i, k in enumerate(keys)]


def _assignment(names_: list[str], acc: pd.DataFrame, acc_part: np.ndarray, how_acc: np.ndarray, reps: pd.DataFrame,
                rep_part: pd.Series, how_rep: pd.Series, offices: pd.DataFrame, office_rows: list[np.ndarray],
                by: str) -> pd.DataFrame:
    names = np.array(names_ + [""], dtype=object)
    a = acc_part >= 0
    r = (rep_part >= 0).to_numpy()
    frames = [pd.DataFrame({"table": "accounts", S.ID: acc[S.ID].astype(str).to_numpy()[a],
                            "partition": names[acc_part[a]], "how": how_acc[a]}),
              pd.DataFrame({"table": "reps", S.ID: reps[S.ID].astype(str).to_numpy()[r],
                            "partition": names[rep_part.to_numpy()[r]], "how": how_rep.to_numpy()[r]})]
    ids = offices[S.ID].astype(str).to_numpy()
    how = "shared (teams are not places)" if by == "team" else f"in its {by} or a base office"
    for k, rows in zip(names_, office_rows):
        frames.append(pd.DataFrame({"table": "offices", S.ID: ids[rows], "partition": k, "how": how}))
    return pd.concat(frames, ignore_index=True)[list(ASSIGNMENT_COLUMNS)]


def _notes(by: str, n: int, sellers: set[int], left: pd.DataFrame) -> tuple[str, ...]:
    notes = [f"{n} partitions by {by}; {len(sellers)} with sellers"]
    for table, grp in left.groupby("table", sort=True):
        top = grp["reason"].value_counts().head(3)
        notes.append(f"{table}: {len(grp)} left out (" + "; ".join(f"{v} {k}" for k, v in top.items()) + ")")
    return tuple(notes)
