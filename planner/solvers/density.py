"""Where accounts cluster, and how far they sit from the team's bases.

- ``account_weights``: the weight of each account for the question at hand:
  ``count`` (1 each), ``class`` (A 3, B 2, C 1 by default) or ``potential``
  (CNY).
- ``hex_cells``: accounts aggregated to H3 hexagons (Uber's H3 library): the
  density layer of the maps, and the demand points for large inputs. A map of
  100,000 accounts shows a few thousand cells, never 100,000 markers.
- ``find_clusters``: density clusters. Accounts are first binned to H3 cells
  (resolution 8, ~0.7 km²), then scikit-learn's DBSCAN runs on the cell
  centres in metres (a UTM projection for the area) with the cells' account
  weights as sample weights: a cluster is a connected set of cells whose
  weight within ``eps_m`` reaches ``min_weight``. Cells in no cluster are
  noise (label -1). Binning first keeps 100,000 accounts to seconds.
- ``reach``: each account's travel time to its nearest base, the shares within
  30/60/90 minutes, and the visits a rep can make in a day from that base.

Visits per rep-day (the figure behind the Xiamen story): a rep leaves the base
after the morning meeting (``day_start``), drives ``t`` minutes to the account
area, makes visits of ``service_min`` each with ``between_visits_min`` between
them, and drives ``t`` back for the evening review (``day_end``):
``visits = min(max_visits, floor((day - 2 t + g) / (s + g)))``, 0 when the
round trip alone does not fit. A rep based an hour and a half away loses three
hours a day on the road.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from planner import geo, schema as S
from planner.errors import InputError
from planner.geo import travel
from planner.options import Options, option

if TYPE_CHECKING:
    import geopandas as gpd

WEIGHTS = ("count", "class", "potential")
DEFAULT_CLASS_WEIGHTS = S.CLASS_WEIGHTS


def account_weights(accounts: pd.DataFrame, by: str = "count", *,
                    class_weights: dict[str, float] | None = None) -> pd.Series:
    """Weight per account (aligned to the index)."""
    if by == "count":
        return pd.Series(1.0, index=accounts.index, name="weight")
    if by == "class":
        cw = class_weights or DEFAULT_CLASS_WEIGHTS
        unknown = set(accounts[S.CLASS].unique()) - set(cw)
        if unknown:
            raise InputError(f"class weights missing for classes {sorted(unknown)}")
        return accounts[S.CLASS].map(cw).astype(float).rename("weight")
    if by == "potential":
        return accounts[S.POTENTIAL_CNY].fillna(0).astype(float).rename("weight")
    raise InputError(f"unknown weight {by!r}: use one of {', '.join(WEIGHTS)}")


def h3_cells(lon: ArrayLike, lat: ArrayLike, resolution: int) -> np.ndarray:
    """H3 cell (int64) of each point."""
    import h3

    if not 0 <= resolution <= 15:
        raise ValueError(f"H3 resolution must be within 0..15, got {resolution}")
    x_arr = np.asarray(lon, dtype=float)
    y_arr = np.asarray(lat, dtype=float)
    return np.fromiter((h3.str_to_int(h3.latlng_to_cell(y, x, resolution)) for x, y in zip(x_arr, y_arr)),
                       dtype=np.int64, count=len(x_arr))


def hex_cells(accounts: pd.DataFrame, *, resolution: int = 7, weight: pd.Series | None = None) -> gpd.GeoDataFrame:
    """Accounts aggregated to H3 hexagons: GeoDataFrame with ``cell``, ``accounts``,
    ``weight``, A/B/C counts, ``potential_cny``, the cell centre (``lon``, ``lat``)
    and ``mean_lon``/``mean_lat`` (the accounts' centroid, the better demand point)."""
    import geopandas as gpd
    import h3
    import shapely

    w = weight if weight is not None else account_weights(accounts)
    cells = h3_cells(accounts[S.LON], accounts[S.LAT], resolution)
    df = pd.DataFrame({"cell": cells, "w": w.to_numpy(float), "lon": accounts[S.LON].to_numpy(float),
                       "lat": accounts[S.LAT].to_numpy(float), "cls": accounts[S.CLASS].to_numpy(),
                       "pot": accounts[S.POTENTIAL_CNY].fillna(0).to_numpy(float)})
    g = df.groupby("cell", sort=True)
    out = pd.DataFrame({"accounts": g.size(), "weight": g["w"].sum(), "potential_cny": g["pot"].sum(),
                        "mean_lon": g["lon"].mean(), "mean_lat": g["lat"].mean()})
    for c in S.CLASSES:
        out[c] = df[df["cls"] == c].groupby("cell").size().reindex(out.index, fill_value=0)
    out = out.reset_index()
    centres = [h3.cell_to_latlng(h3.int_to_str(int(c))) for c in out["cell"]]
    out["lat"] = [c[0] for c in centres]
    out["lon"] = [c[1] for c in centres]
    polys = [shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(h3.int_to_str(int(c)))]) for c in out["cell"]]
    return gpd.GeoDataFrame(out, geometry=polys, crs="EPSG:4326")


@dataclass(frozen=True, kw_only=True)
class ClusterOptions(Options):
    """Density clusters: ``eps_m`` neighbourhood radius, ``min_weight`` weight needed
    within it, in average accounts (weights are divided by their mean), and the
    ``resolution`` of the H3 binning."""

    eps_m: float = option(3000.0, doc="neighbourhood radius of a density cluster", unit="m", above=0)
    min_weight: float = option(25.0, doc="weight a cluster needs within the radius, in average accounts", above=0)
    resolution: int = option(8, doc="H3 resolution of the binning (8 is about 0.7 km2)", min=5, max=10)
    weight: str = option("count", doc="what an account weighs", choices=WEIGHTS)


@dataclass(frozen=True)
class Clusters:
    labels: pd.Series  # cluster id per account (index aligned), -1 = not in a cluster
    table: pd.DataFrame  # one row per cluster: accounts, weight, share, centre, county, prefecture
    options: ClusterOptions = field(default_factory=ClusterOptions)


def find_clusters(accounts: pd.DataFrame, options: ClusterOptions | None = None) -> Clusters:
    """Density clusters of accounts (see the module docstring); largest cluster first (id 0)."""
    from sklearn.cluster import DBSCAN

    opt = options or ClusterOptions()
    if len(accounts) == 0:
        return Clusters(pd.Series([], dtype=int, name="cluster"), pd.DataFrame(), opt)
    w = account_weights(accounts, opt.weight)
    cells = h3_cells(accounts[S.LON], accounts[S.LAT], opt.resolution)
    df = pd.DataFrame({"cell": cells, "w": w.to_numpy(float), "lon": accounts[S.LON].to_numpy(float),
                       "lat": accounts[S.LAT].to_numpy(float)})
    g = df.groupby("cell", sort=True).agg(w=("w", "sum"), n=("w", "size"), lon=("lon", "mean"), lat=("lat", "mean"))
    from pyproj import Transformer

    crs = geo.metric_crs(g["lon"], g["lat"])
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(g["lon"].to_numpy(), g["lat"].to_numpy())
    # Weights in "average accounts" so min_weight means the same for every weighting.
    unit = float(w.mean()) if float(w.mean()) > 0 else 1.0
    lab = DBSCAN(eps=opt.eps_m, min_samples=int(np.ceil(opt.min_weight)), metric="euclidean").fit(
        np.column_stack([x, y]), sample_weight=g["w"].to_numpy() / unit).labels_
    # Renumber: largest cluster (by weight) first.
    cw = pd.Series(g["w"].to_numpy()).groupby(lab).sum().drop(index=-1, errors="ignore")
    order = {old: new for new, old in enumerate(cw.sort_values(ascending=False, kind="stable").index)}
    lab = np.array([order.get(v, -1) for v in lab])
    cell_label = pd.Series(lab, index=g.index)
    labels = pd.Series(cell_label.reindex(cells).to_numpy(), index=accounts.index, name="cluster")
    loc = geo.locate(accounts[S.LON], accounts[S.LAT])
    rows = []
    total_w = float(w.sum()) or 1.0
    for cid in range(len(order)):
        m = (labels == cid).to_numpy()
        sub_loc = loc[m]
        county = sub_loc["county_name"].mode()
        pref = sub_loc["prefecture_name"].mode()
        rows.append({"cluster": cid, "accounts": int(m.sum()), "weight": float(w[m].sum()),
                     "share": float(w[m].sum()) / total_w,
                     "lon": float(accounts.loc[m, S.LON].mean()), "lat": float(accounts.loc[m, S.LAT].mean()),
                     "main_county": county.iloc[0] if len(county) else "",
                     "main_prefecture": pref.iloc[0] if len(pref) else "",
                     "A": int((accounts.loc[m, S.CLASS] == "A").sum()),
                     "potential_cny": float(accounts.loc[m, S.POTENTIAL_CNY].sum())})
    return Clusters(labels, pd.DataFrame(rows), opt)


def summarise(accounts: pd.DataFrame, *, by: str = "county", weight: str = "count",
              located: pd.DataFrame | None = None) -> pd.DataFrame:
    """Counts, A/B share, potential and the chosen weight by county or prefecture."""
    if by not in ("county", "prefecture"):
        raise ValueError("by must be 'county' or 'prefecture'")
    loc = located if located is not None else geo.locate(accounts[S.LON], accounts[S.LAT])
    keys = ["prefecture_adcode", "prefecture_name"] + (["county_adcode", "county_name"] if by == "county" else [])
    df = loc[keys].copy()
    df.index = accounts.index
    df["w"] = account_weights(accounts, weight)
    df["ab"] = accounts[S.CLASS].isin(["A", "B"]).astype(float)
    df["pot"] = accounts[S.POTENTIAL_CNY].fillna(0).astype(float)
    g = df.groupby(keys, sort=False)
    out = pd.DataFrame({"accounts": g.size(), "ab_share": g["ab"].mean(), "potential_cny": g["pot"].sum(),
                        "weight": g["w"].sum()}).reset_index()
    out["weight_share"] = out["weight"] / max(float(out["weight"].sum()), 1e-9)
    return out.sort_values("weight", ascending=False, kind="stable").reset_index(drop=True)


@dataclass(frozen=True, kw_only=True)
class WorkingDay(Options):
    """The working day a base allows: out after the morning meeting, back for the evening review.

    A simple capacity model for the map-level questions (bases, reach); the
    day planner (``planner.solvers.days``) plans the real routes."""

    day_start_min: int = option(S.DAY_START_MIN, doc="visits start (minutes after midnight)", min=0, max=24 * 60)
    day_end_min: int = option(S.DAY_END_MIN, doc="back for the evening review (minutes after midnight)", min=0,
                              max=24 * 60)
    service_min: float = option(S.VISIT_MIN, doc="minutes a visit takes", unit="min", above=0)
    between_visits_min: float = option(S.BETWEEN_VISITS_MIN, doc="minutes between two visits", unit="min", min=0)
    max_visits: int = option(S.VISITS_PER_DAY, doc="visits a day at most", min=1)

    def problems(self) -> list[str]:
        if not self.day_start_min < self.day_end_min:
            return [f"day_start_min ({self.day_start_min}) must be before day_end_min ({self.day_end_min})"]
        return []

    @property
    def day_min(self) -> int:
        return self.day_end_min - self.day_start_min


def visits_per_day(one_way_min: ArrayLike, options: WorkingDay | None = None) -> np.ndarray:
    """Visits a rep can make in a day in an area ``one_way_min`` from the base."""
    o = options or WorkingDay()
    t = np.asarray(one_way_min, dtype=float)
    free = o.day_min - 2.0 * t + o.between_visits_min
    v = np.floor(free / (o.service_min + o.between_visits_min))
    return np.clip(v, 0, o.max_visits)


@dataclass(frozen=True)
class ReachResult:
    """Per-account nearest base and time; shares and visits per rep-day."""

    base_index: pd.Series  # index into the bases given (aligned to accounts)
    time_min: pd.Series
    visits_per_day: pd.Series
    shares: dict[int, float]
    mean_visits_per_day: float  # weighted mean over accounts

    def kpis(self, weight: pd.Series | None = None) -> dict[str, float]:
        w = weight if weight is not None else pd.Series(1.0, index=self.time_min.index)
        return time_kpis(self.time_min.to_numpy(float), self.visits_per_day.to_numpy(float), w.to_numpy(float))


def time_kpis(time_min: np.ndarray, visits: np.ndarray, weight: np.ndarray) -> dict[str, float]:
    """Weighted mean and 90th percentile one-way time, share within 60 min, visits per rep-day."""
    wt = np.asarray(weight, dtype=float)
    t = np.asarray(time_min, dtype=float)
    has = wt.sum() > 0
    return {
        "mean_time_min": float(np.average(t, weights=wt)) if has else float("nan"),
        "p90_time_min": float(_weighted_quantile(t, wt, 0.9)),
        "share_within_60_min": float(wt[t <= 60].sum() / max(float(wt.sum()), 1e-9)),
        "visits_per_rep_day": float(np.average(np.asarray(visits, dtype=float), weights=wt)) if has else float("nan"),
    }


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    if len(x) == 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    if cw[-1] <= 0:
        return float("nan")
    return float(x[order][np.searchsorted(cw, q * cw[-1])])


def reach(accounts: pd.DataFrame, bases_lonlat: ArrayLike, *, thresholds_min: Sequence[float] = (30, 60, 90),
          day: WorkingDay | None = None, weight: pd.Series | None = None,
          backend: travel.TravelBackend | None = None) -> ReachResult:
    """Travel time from each account's nearest base, shares within thresholds, visits per rep-day."""
    bases = np.asarray(bases_lonlat, dtype=float).reshape(-1, 2)
    if len(bases) == 0:
        raise ValueError("reach needs at least one base")
    pts = accounts[[S.LON, S.LAT]].to_numpy(float)
    idx, t_s = travel.nearest(pts, bases, backend=backend)
    t = pd.Series(t_s.astype(float) / 60.0, index=accounts.index, name="time_min")
    v = pd.Series(visits_per_day(t.to_numpy(), day), index=accounts.index, name="visits_per_day")
    w = weight if weight is not None else pd.Series(1.0, index=accounts.index)
    wt = w.to_numpy(float)
    tot = max(wt.sum(), 1e-9)
    shares = {int(th): float(wt[t.to_numpy() <= th].sum() / tot) for th in thresholds_min}
    mean_v = float(np.average(v.to_numpy(), weights=wt)) if wt.sum() > 0 else float("nan")
    return ReachResult(pd.Series(idx, index=accounts.index, name="base"), t, v, shares, mean_v)
