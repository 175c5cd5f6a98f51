"""The selection map of the territories app: plan A's basic units on a live map, to pick and pin.

A folium map is a picture (an iframe): it cannot tell Python what was clicked. This map is an ipyleaflet
widget, so it can. Click a unit to select it (click again to unselect it), or draw a rectangle or a
polygon with the tools at the top left: every unit whose representative point falls inside is added to
the selection. Selected units have a thick black outline, units holding pinned accounts a dashed one.

- **Lock selected** pins every planned account of the selected units to its rep in plan A;
- **Move selected to** pins them to the rep chosen in the list;
- **Clear pins** forgets every pin.

The pins are ``ACCOUNT=REP`` pairs (``TerritoryOptions.assign``) and feed the next solve: a pinned account
goes to its rep and, in a contiguous plan, holds its unit to that rep. The same from code (tests, a
notebook cell): :meth:`SelectionMap.select_units`, :meth:`SelectionMap.select_in` (a polygon in lon/lat),
:meth:`SelectionMap.pin_selected`, :meth:`SelectionMap.clear_pins`.

The map uses the folium maps' tiles (``planner.app.maps.tiles``: OpenStreetMap unless ``PLANNER_TILES``
says otherwise; Amap draws in GCJ-02 and the shapes are converted at the edge, the data stay WGS-84).
The units are vector layers: without a network the tiles stay blank and the units still show.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from planner.app.maps import tiles as T
from planner.app.maps.palette import POOL_COLOUR, rep_colours, text_on
from planner.app.ui.jobs import button
from planner.app.ui.tables import tr

MAP_HEIGHT = 520
OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTR = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
SELECTED = {"color": "#000000", "weight": 4, "opacity": 1.0, "fill": False}
PINNED = {"color": "#000000", "weight": 2, "opacity": 0.9, "dashArray": "6 4", "fill": False}
# the rep labels are Leaflet div icons: without Leaflet's white box (folium maps live in iframes: untouched)
LABEL_CSS = "<style>.jupyter-widgets .leaflet-div-icon{background:transparent;border:none}</style>"


def legend_html() -> str:
    """The selection map's legend: what the fills and outlines mean (no user text in it)."""
    def key(style: str) -> str:
        return f'<svg width="22" height="14" style="vertical-align:middle"><rect x="2" y="2" width="18" height="10" ' \
               f'{style}/></svg>'

    rows = [
        (key('fill="#4e79a7" fill-opacity="0.35" stroke="#4e79a7" stroke-width="1"'),
         "a rep's unit (his colour; his id on the area)"),
        (key(f'fill="{POOL_COLOUR}" fill-opacity="0.35" stroke="{POOL_COLOUR}" stroke-width="1"'),
         "public pool"),
        (key('fill="none" stroke="#000" stroke-width="3"'), "selected (click, or draw around)"),
        (key('fill="none" stroke="#000" stroke-width="1.5" stroke-dasharray="4 3"'), "holds pinned accounts"),
    ]
    body = "".join(f"<div>{k} {html.escape(t)}</div>" for k, t in rows)
    return ('<div style="background:rgba(255,255,255,0.92);padding:4px 8px;border-radius:4px;'
            f'font:12px/18px sans-serif;color:#222"><b>Units</b>{body}</div>')


def tile_layers(tiles: str | None = T.DEFAULT_TILES) -> tuple[list[dict[str, Any]], str]:
    """The tile layers of the folium maps as ipyleaflet ``TileLayer`` arguments, and the display system."""
    chosen, crs = T.choose(tiles)
    out = []
    for t in chosen[:1]:  # the first is the one shown; this map has no layer list
        if t.url == T.OSM_NAME:
            out.append({"url": OSM_URL, "attribution": OSM_ATTR, "max_zoom": 19, "name": t.name})
        elif "{z}" in t.url:  # Leaflet's TileLayer here takes no subdomains: the first one, written in
            sub = (t.subdomains or "a")[0]
            out.append({"url": t.url.replace("{s}", sub), "attribution": t.attr, "max_zoom": 18, "name": t.name})
            if t.labels_url:
                out.append({"url": t.labels_url.replace("{s}", sub), "attribution": "", "max_zoom": 18,
                            "name": t.name + " labels"})
    return out, crs


def _to_display(geoms: Any, crs: str) -> Any:
    if crs == "wgs84":
        return geoms
    import shapely

    from planner.geo import coords

    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = coords.from_wgs84(xy[:, 0], xy[:, 1], crs)
        return np.column_stack([lon, lat])

    return shapely.transform(np.asarray(geoms, dtype=object), shift)


def _from_display(lonlat: np.ndarray, crs: str) -> np.ndarray:
    if crs == "wgs84":
        return lonlat
    from planner.geo import coords

    lon, lat = coords.to_wgs84(lonlat[:, 0], lonlat[:, 1], crs)
    return np.column_stack([lon, lat])


def _view(bounds: Sequence[float], width_px: int = 900, height_px: int = MAP_HEIGHT) -> tuple[tuple[float, float],
                                                                                               float]:
    """(centre as (lat, lon), zoom) that shows ``bounds`` (min lon, min lat, max lon, max lat)."""
    x0, y0, x1, y1 = (float(v) for v in bounds)

    def merc(lat: float) -> float:
        s = math.sin(math.radians(max(min(lat, 85.0), -85.0)))
        return 0.5 * math.log((1 + s) / (1 - s))

    zx = math.log2(width_px * 360.0 / (256.0 * max(x1 - x0, 1e-6)))
    zy = math.log2(height_px * 2 * math.pi / (256.0 * max(merc(y1) - merc(y0), 1e-9)))
    zoom = max(3.0, min(15.0, math.floor(min(zx, zy) * 4) / 4))
    return ((y0 + y1) / 2, (x0 + x1) / 2), zoom


def _polygon(shape: Any) -> Any:
    """A shapely geometry from a shapely geometry, a GeoJSON geometry or feature, or a ring of (lon, lat)."""
    import shapely
    from shapely.geometry import shape as from_geojson

    if isinstance(shape, shapely.Geometry):
        return shape
    if isinstance(shape, Mapping):
        geom = shape.get("geometry", shape)
        return from_geojson(geom)
    ring = np.asarray(shape, dtype=float)
    if ring.ndim != 2 or ring.shape[1] != 2 or len(ring) < 3:
        raise ValueError("select_in: give a polygon as at least three (lon, lat) corners")
    return shapely.Polygon(ring)


@dataclass(eq=False)
class SelectionMap:
    """Plan A's units on an ipyleaflet map, the selection and the pins (see the module docstring).

    ``pins``: account id -> rep id, what :meth:`assign` gives the next solve. ``on_pins`` is called after
    the pins change."""

    widget: Any
    controls: dict[str, Any]
    pins: dict[str, str] = field(default_factory=dict)
    selected: set[int] = field(default_factory=set)
    plan: Any = None
    names: Mapping[str, str] = field(default_factory=dict)
    rep_names: Mapping[str, str] = field(default_factory=dict)
    tiles: str | None = T.DEFAULT_TILES
    on_pins: Callable[[], None] | None = None
    map: Any = None
    layers: dict[str, Any] = field(default_factory=dict)
    crs: str = "wgs84"
    _points: Any = None  # GeoSeries of each unit's representative point (index: unit id), WGS-84
    _display: dict[int, Any] = field(default_factory=dict)  # unit id -> its GeoJSON geometry, display system

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # --- what the next solve gets ------------------------------------------------------------------
    def assign(self) -> tuple[tuple[str, str], ...]:
        """The pins as ``TerritoryOptions.assign`` pairs (sorted by account)."""
        return tuple(sorted(self.pins.items()))

    @property
    def units(self) -> Any:
        """The units of the plan shown (GeoDataFrame), or None."""
        return None if self.plan is None else self.plan.units

    # --- the plan shown ------------------------------------------------------------------------------
    def show(self, plan: Any) -> None:
        """Show ``plan``'s units (the selection is cleared; the pins stay)."""
        self.plan = plan
        self.selected = set()
        c = self.controls
        if plan is None or plan.units is None or not len(plan.units):
            self._points, self._display = None, {}
            c["hint"].value = "<p>" + html.escape(
                tr("方案 A 尚未求解：求解后可在此地图上选择片区单元。", "Solve scenario A first: its units show here.")
                if plan is None else
                tr("方案 A 不是连续片区（客户分散分配）：把“连续片区”设为“是”再求解 A，即可在地图上选择单元。",
                   "Scenario A is not drawn as areas (accounts assigned one by one): set Contiguous areas to "
                   "yes and solve A to select units on the map.")) + "</p>"
            self.widget.children = (c["title"], c["hint"], c["pin_row"], c["pin_count"])
            self._count()
            return
        units = plan.units
        self._points = units.set_index("unit").geometry.representative_point()
        c["hint"].value = "<p>" + html.escape(tr(
            "点击单元选中（再点取消），或用左上角工具画矩形或多边形框选；粗黑边 = 已选，虚线 = 已固定。"
            "“锁定所选”把所选单元的客户固定给方案 A 中的销售，“移给”固定给所选销售：下次求解生效。",
            "Click a unit to select it (again to unselect), or draw a rectangle or polygon with the tools at the "
            "top left; thick black outline = selected, dashed = pinned. Lock selected pins the accounts of the "
            "selected units to their rep in plan A, Move selected to pins them to the rep chosen: the next "
            "solve keeps them there.")) + "</p>"
        reps = list(plan.reps.index)
        c["rep"].options = [(f"{r} {self.rep_names.get(str(r), '')}".strip(), str(r)) for r in reps]
        c["rep"].value = str(reps[0]) if reps else None
        self._draw_units(units)
        self.widget.children = (c["title"], c["hint"], self.map, c["select_row"], c["pin_row"], c["pin_count"],
                                c["info"])
        self._refresh()

    def _ensure_map(self) -> Any:
        if self.map is not None:
            return self.map
        import ipyleaflet as L
        import ipywidgets as w

        layers, self.crs = tile_layers(self.tiles)
        tiles = [L.TileLayer(url=t["url"], attribution=t["attribution"], max_zoom=t["max_zoom"], name=t["name"],
                             base=i == 0) for i, t in enumerate(layers)]
        units = L.GeoJSON(data={"type": "FeatureCollection", "features": []}, name="units",
                          hover_style={"fillOpacity": 0.6})
        pinned = L.GeoJSON(data={"type": "FeatureCollection", "features": []}, name="pinned")
        selected = L.GeoJSON(data={"type": "FeatureCollection", "features": []}, name="selected")
        labels = L.LayerGroup(name="reps")
        draw = L.DrawControl(
            rectangle={"shapeOptions": {"color": "#000000", "weight": 1, "fillOpacity": 0.05}},
            polygon={"shapeOptions": {"color": "#000000", "weight": 1, "fillOpacity": 0.05}},
            polyline={}, circlemarker={}, marker={}, circle={}, edit=False, remove=False)
        m = L.Map(layers=tuple(tiles) + (units, pinned, selected, labels), zoom=9, center=(24.9, 118.6),
                  scroll_wheel_zoom=True, zoom_snap=0.25, zoom_delta=0.5,
                  layout=w.Layout(width="100%", height=f"{MAP_HEIGHT}px"))
        m.add(draw)
        m.add(L.ScaleControl(position="bottomleft", imperial=False))
        m.add(L.WidgetControl(widget=w.HTML(legend_html()), position="bottomright"))
        units.on_click(self._on_click)
        units.on_hover(self._on_hover)
        draw.on_draw(self._on_draw)
        self.layers = {"units": units, "pinned": pinned, "selected": selected, "labels": labels, "draw": draw}
        self.map = m
        return m

    def _draw_units(self, units: Any) -> None:
        import ipyleaflet as L
        import shapely

        m = self._ensure_map()
        colours = rep_colours(self.plan.reps.index)
        geoms = _to_display(units.geometry.values, self.crs)
        self._display = {}
        features = []
        for uid, terr, n, g in zip(units["unit"], units["territory"], units["accounts"], geoms):
            gj = shapely.geometry.mapping(shapely.set_precision(g, 1e-5)) if g is not None else None
            self._display[int(uid)] = gj
            col = colours.get(terr, POOL_COLOUR)
            features.append({"type": "Feature", "geometry": gj,
                             "properties": {"unit": int(uid), "territory": str(terr), "accounts": int(n),
                                            "style": {"color": col, "weight": 0.6, "opacity": 0.9,
                                                      "fillColor": col, "fillOpacity": 0.35}}})
        self.layers["units"].data = {"type": "FeatureCollection", "features": features}
        marks = []
        areas = self.plan.areas
        if areas is not None:
            pts = _to_display(areas.geometry.representative_point().values, self.crs)
            for terr, p in zip(areas["territory"], pts):
                if p is None or p.is_empty:
                    continue
                col = colours.get(terr, POOL_COLOUR)
                label = html.escape(str(terr))
                width = 10 + 7 * len(str(terr))
                icon = L.DivIcon(html=f'<div style="background:{col};color:{text_on(col)};border-radius:8px;'
                                      f'font:bold 11px/16px sans-serif;white-space:nowrap;text-align:center;'
                                      f'width:{width}px;height:16px">{label}</div>', icon_size=[width, 16],
                                 icon_anchor=[width // 2, 8])
                marks.append(L.Marker(location=(p.y, p.x), icon=icon, draggable=False, title=str(terr)))
        self.layers["labels"].layers = tuple(marks)
        b = units.total_bounds
        x0, y0 = _to_display_point(b[0], b[1], self.crs)
        x1, y1 = _to_display_point(b[2], b[3], self.crs)
        m.center, m.zoom = _view((x0, y0, x1, y1))

    # --- selecting ------------------------------------------------------------------------------------
    def _known(self) -> set[int]:
        return set() if self._points is None else {int(u) for u in self._points.index}

    def select_units(self, ids: Iterable[int], *, add: bool = False) -> set[int]:
        """Select the units ``ids`` (unit numbers of plan A; unknown ones are ignored); ``add`` keeps the
        ones already selected. Returns the selection."""
        ids = {int(i) for i in ids} & self._known()
        self.selected = (self.selected | ids) if add else ids
        self._refresh()
        return set(self.selected)

    def toggle(self, unit: int) -> set[int]:
        """Select a unit, or unselect it when it is selected (a click on the map)."""
        u = int(unit)
        if u in self.selected:
            self.selected = self.selected - {u}
            self._refresh()
            return set(self.selected)
        return self.select_units([u], add=True)

    def select_in(self, polygon_lonlat: Any, *, add: bool = False) -> set[int]:
        """Select the units whose representative point falls inside ``polygon_lonlat`` (a ring of (lon, lat)
        corners in WGS-84, a shapely polygon or a GeoJSON geometry); ``add`` keeps the ones already
        selected. Returns the selection."""
        if self._points is None:
            return self.select_units([], add=add)
        import shapely

        poly = _polygon(polygon_lonlat)
        pts = self._points
        inside = shapely.covers(poly, np.asarray(pts.values, dtype=object))
        return self.select_units(pts.index[inside], add=add)

    def clear_selection(self, *_: Any) -> None:
        self.selected = set()
        self._refresh()

    def _on_click(self, **event: Any) -> None:
        props = event.get("properties") or (event.get("feature") or {}).get("properties") or {}
        if "unit" in props:
            self.toggle(int(props["unit"]))

    def _on_hover(self, **event: Any) -> None:
        props = event.get("properties") or (event.get("feature") or {}).get("properties") or {}
        if "unit" in props:
            self.controls["info"].value = self.describe_unit(int(props["unit"]))

    def _on_draw(self, control: Any, action: str, geo_json: Mapping[str, Any]) -> None:
        if action != "created" or not geo_json:
            return
        geom = geo_json.get("geometry") or {}
        coords = geom.get("coordinates") or []
        if geom.get("type") != "Polygon" or not coords:
            return
        ring = _from_display(np.asarray(coords[0], dtype=float), self.crs)
        self.select_in(ring, add=True)
        control.clear()

    def describe_unit(self, unit: int) -> str:
        """One unit in words, as HTML (every name escaped): its rep, its accounts (the first few by name)."""
        acc = self._accounts_of({unit})
        terr = ""
        if self.plan is not None:
            row = self.plan.units.loc[self.plan.units["unit"] == unit]
            terr = str(row["territory"].iloc[0]) if len(row) else ""
        names = [str(self.names.get(a, a)) for a in acc[:4]]
        more = f" … (+{len(acc) - 4})" if len(acc) > 4 else ""
        rep = f"{terr} {self.rep_names.get(terr, '')}".strip()
        text = tr(f"单元 {unit} · 销售 {rep} · {len(acc)} 个客户：", f"unit {unit} · rep {rep} · {len(acc)} "
                  f"account(s): ") + ", ".join(names) + more
        state = " · " + tr("已选", "selected") if unit in self.selected else ""
        return f"<small>{html.escape(text + state)}</small>"

    # --- pinning --------------------------------------------------------------------------------------------
    def _accounts_of(self, units: set[int]) -> list[str]:
        """The planned accounts (assigned in the plan shown) of ``units``."""
        if self.plan is None or "unit" not in self.plan.accounts.columns or not units:
            return []
        a = self.plan.accounts
        sel = a["unit"].isin(list(units)) & a["outcome"].eq("assigned")
        return [str(i) for i in a.index[sel]]

    def pin_selected(self, rep: str | None = None) -> int:
        """Pin every planned account of the selected units: to its rep in the plan shown (``rep`` None), or
        to ``rep``. The selection is cleared; returns how many accounts were pinned."""
        if self.plan is None:
            raise ValueError(tr("尚无方案 A", "no plan A to select in"))
        reps = {str(r) for r in self.plan.reps.index}
        if rep is not None and str(rep) not in reps:
            raise ValueError(tr(f"{rep} 不是方案 A 的销售", f"{rep} is not a rep of plan A"))
        ids = self._accounts_of(self.selected)
        terr = self.plan.accounts["territory"]
        for a in ids:
            self.pins[a] = str(rep) if rep is not None else str(terr.loc[a])
        self.selected = set()
        self._refresh()
        if self.on_pins is not None:
            self.on_pins()
        return len(ids)

    def clear_pins(self, *_: Any) -> None:
        """Forget every pin."""
        self.pins.clear()
        self._refresh()
        if self.on_pins is not None:
            self.on_pins()

    def _on_lock(self, *_: Any) -> None:
        self._pin_from_button(None)

    def _on_move(self, *_: Any) -> None:
        self._pin_from_button(self.controls["rep"].value)

    def _pin_from_button(self, rep: str | None) -> None:
        try:
            if not self.selected:
                raise ValueError(tr("先在地图上选择单元", "select units on the map first"))
            self.pin_selected(rep)
        except ValueError as e:
            self.controls["pin_count"].value = f'<b style="color:#b00">{html.escape(str(e))}</b>'

    # --- what the map and the lines show -------------------------------------------------------------------
    def _refresh(self) -> None:
        if self.layers and self._display:
            self.layers["selected"].data = self._collection(self.selected, SELECTED)
            pinned_units: set[int] = set()
            if self.plan is not None and self.pins and "unit" in self.plan.accounts.columns:
                u = self.plan.accounts["unit"].reindex(list(self.pins)).dropna()
                pinned_units = {int(x) for x in u if x >= 0}
            self.layers["pinned"].data = self._collection(pinned_units, PINNED)
        self._count()

    def _collection(self, units: Iterable[int], style: dict[str, Any]) -> dict[str, Any]:
        feats = [{"type": "Feature", "geometry": self._display[u], "properties": {"unit": u, "style": style}}
                 for u in sorted(units) if self._display.get(u) is not None]
        return {"type": "FeatureCollection", "features": feats}

    def _count(self) -> None:
        c = self.controls
        n_acc = len(self._accounts_of(self.selected))
        c["selected_count"].value = html.escape(tr(f"已选 {len(self.selected)} 个单元（{n_acc} 个客户）",
                                                   f"{len(self.selected)} unit(s) selected ({n_acc} accounts)"))
        by_rep = pd.Series(self.pins, dtype=object).value_counts().sort_index() if self.pins else pd.Series()
        per = ", ".join(f"{r}: {n}" for r, n in by_rep.items())
        text = tr(f"已固定 {len(self.pins)} 个客户", f"{len(self.pins)} account(s) pinned") + \
            (f" ({per})" if per else "") + " · " + tr("下次求解生效", "they hold in the next solve")
        c["pin_count"].value = html.escape(text)


def selection_map(plan: Any = None, *, pins: Iterable[tuple[str, str]] = (), names: Mapping[str, str] | None = None,
                  rep_names: Mapping[str, str] | None = None, tiles: str | None = T.DEFAULT_TILES,
                  on_pins: Callable[[], None] | None = None) -> SelectionMap:
    """The selection section (title, map, buttons, counts) showing ``plan``'s units; ``pins`` to start from,
    ``names`` (account id -> name) and ``rep_names`` (rep id -> name) for the hover line and the rep list."""
    import ipywidgets as w

    wide = w.Layout(width="100%")
    c: dict[str, Any] = {
        "title": w.HTML("<b>" + html.escape(tr("在地图上选择单元：锁定或移交", "Select units on the map: lock or "
                                                "move them")) + "</b>", layout=wide),
        "hint": w.HTML("", layout=wide),
        "selected_count": w.HTML(""),
        "clear_selection": button(tr("清空选择", "Clear selection"), icon="times"),
        "lock": button(tr("锁定所选", "Lock selected"), icon="lock", style="primary",
                       tooltip=tr("所选单元的客户固定给方案 A 中的销售", "pin the accounts of the selected units to "
                                  "their rep in plan A")),
        "move": button(tr("所选移给", "Move selected to"), icon="arrow-right",
                       tooltip=tr("所选单元的客户固定给右边选择的销售", "pin the accounts of the selected units to the "
                                  "rep chosen on the right")),
        "rep": w.Dropdown(options=[], layout=w.Layout(width="220px")),
        "clear_pins": button(tr("清除固定", "Clear pins"), icon="unlock", style="warning"),
        "pin_count": w.HTML("", layout=wide),
        "info": w.HTML("", layout=wide),
    }
    row = w.Layout(width="100%", flex_flow="row wrap", align_items="center")
    c["select_row"] = w.HBox([c["selected_count"], c["clear_selection"]], layout=row)
    c["pin_row"] = w.HBox([c["lock"], c["move"], c["rep"], c["clear_pins"]], layout=row)
    c["title"] = w.HBox([c["title"], w.HTML(LABEL_CSS, layout=w.Layout(display="none"))], layout=wide)
    box = w.VBox([c["title"], c["hint"]], layout=wide)
    sm = SelectionMap(widget=box, controls=c, pins={str(a): str(r) for a, r in pins},
                      names=dict(names or {}), rep_names=dict(rep_names or {}), tiles=tiles, on_pins=on_pins)
    c["clear_selection"].on_click(sm.clear_selection)
    c["lock"].on_click(sm._on_lock)
    c["move"].on_click(sm._on_move)
    c["clear_pins"].on_click(sm.clear_pins)
    sm.show(plan)
    return sm


def _to_display_point(lon: float, lat: float, crs: str) -> tuple[float, float]:
    if crs == "wgs84":
        return float(lon), float(lat)
    from planner.geo import coords

    x, y = coords.from_wgs84(np.array([lon], dtype=float), np.array([lat], dtype=float), crs)
    return float(x[0]), float(y[0])
