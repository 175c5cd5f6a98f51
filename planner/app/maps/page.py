"""The page furniture every map shares: one layout, decided here for all maps.

- the map fills its output's width (``100%``) and height (the page, an iframe, or ``height`` px in a notebook);
- top left: the zoom buttons; top right: the layer list, collapsed (an inline icon, so it works offline), and
  under it the county read-out of the offline base layer (the county under the pointer);
- bottom left: the legends, stacked above the scale bar as Leaflet controls (so they never cover a control),
  each foldable and scrolling when taller than the map allows; bottom right: the attribution;
- labels (offices, bases) are short, sit beside their symbol on the first free side (right, left, above,
  below, then the corners), higher priorities first, and are hidden when no side is free of other labels,
  symbols, controls and the map's edge; the full text is always in the tooltip;
- the view fits the data clear of the legends (padded on the left or at the bottom, whichever loses less).

Legend rows are built by :func:`legend_html` from (symbol, colour) pairs, so every symbol a map draws can be
shown in its legend; a row may name a layer, and then hovering it highlights the layer and clicking it shows
that layer alone (click again: all).
"""

from __future__ import annotations

import html as _html
import json
from collections.abc import Mapping
from typing import Any

from planner.app.maps.palette import text_on

LEGEND_POSITION = "bottomleft"
COUNTY_LABEL_ZOOM = 10  # county names appear at their seats from this zoom on

_LAYERS_ICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24'%3E"
                "%3Cpath d='M12 3 2 8l10 5 10-5z' fill='%23444'/%3E%3Cpath d='m2 12 10 5 10-5M2 16l10 5 10-5' "
                "fill='none' stroke='%23444' stroke-width='2' stroke-linejoin='round'/%3E%3C/svg%3E")

CSS = """
.leaflet-container{background:#dde5ec;font-family:"Helvetica Neue",Arial,"PingFang SC","Noto Sans CJK SC",
 "Microsoft YaHei",sans-serif}
.folium-map{min-height:320px}
.leaflet-control-layers-toggle,.leaflet-retina .leaflet-control-layers-toggle{background-image:url("ICON");
 background-size:24px 24px}
.leaflet-control-layers-expanded{max-height:70vh;overflow-y:auto}
.planner-legend{background:rgba(255,255,255,.95);padding:5px 9px;border-radius:5px;
 box-shadow:0 1px 5px rgba(0,0,0,.35);font-size:12px;line-height:1.35;color:#222}
.planner-legend summary{font-weight:bold;cursor:pointer;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.planner-legend-body{overflow-y:auto;overflow-x:hidden;margin-top:3px;padding-right:6px}
.planner-legend-row{display:flex;align-items:center;gap:6px;white-space:nowrap;min-height:17px}
.planner-legend-row[data-layer]{cursor:pointer}
.planner-legend-row[data-layer]:hover{background:#eef3f8}
.planner-legend-row.off{opacity:.35}
.planner-legend-grid{display:grid;column-gap:10px;margin-bottom:2px}
.planner-legend-note{color:#555;font-size:11px;white-space:normal;margin-top:2px}
.planner-ramp{width:180px;height:12px;margin:4px 0 1px}
.ps{display:inline-block;flex:0 0 auto;width:13px;height:13px;box-sizing:border-box}
.ps-dot{border-radius:50%;border:1px solid rgba(0,0,0,.35)}
.ps-ring{border-radius:50%;border:2.5px solid;background:#fff}
.ps-dashcircle{border-radius:50%;border:2px dashed;background:#fff}
.ps-square{border:1.5px solid #111}
.ps-hollow{border:2px solid #111;background:#fff}
.ps-line{height:0;width:20px;border-top:3px solid}
.ps-dashed{height:0;width:20px;border-top:3px dashed}
.ps-tri{width:0;height:0;border-left:7px solid transparent;border-right:7px solid transparent;
 border-bottom:12px solid}
.ps-hex{clip-path:polygon(25% 6%,75% 6%,100% 50%,75% 94%,25% 94%,0 50%);width:15px}
.ps-badge{width:auto;min-width:17px;height:16px;padding:0 3px;border-radius:8px;font:bold 10px/16px sans-serif;
 text-align:center}
.ps-chip{width:auto;min-width:17px;height:14px;padding:0 3px;border:1px solid #111;border-radius:2px;
 font:bold 9px/12px sans-serif;text-align:center}
.planner-pin{position:relative;width:100%;height:100%}
.planner-sym{position:absolute;left:0;top:0;right:0;bottom:0;box-sizing:border-box}
.planner-label{position:absolute;white-space:nowrap;background:rgba(255,255,255,.9);color:#111;padding:0 4px;
 border-radius:3px;font:bold 11px/16px sans-serif;box-shadow:0 0 2px rgba(0,0,0,.45);pointer-events:none}
.planner-label.pl-r{left:calc(100% + 3px);top:50%;transform:translateY(-50%)}
.planner-label.pl-l{right:calc(100% + 3px);top:50%;transform:translateY(-50%)}
.planner-label.pl-t{bottom:calc(100% + 2px);left:50%;transform:translateX(-50%)}
.planner-label.pl-b{top:calc(100% + 2px);left:50%;transform:translateX(-50%)}
.planner-label.pl-tr{left:calc(100% + 1px);bottom:calc(100% + 1px)}
.planner-label.pl-br{left:calc(100% + 1px);top:calc(100% + 1px)}
.planner-label.pl-tl{right:calc(100% + 1px);bottom:calc(100% + 1px)}
.planner-label.pl-bl{right:calc(100% + 1px);top:calc(100% + 1px)}
.planner-label.pl-hide{display:none}
.planner-badge{box-sizing:border-box;border-radius:50%;text-align:center;font:bold 10px sans-serif;
 border:1.5px solid #111;box-shadow:0 0 2px rgba(255,255,255,.9)}
.planner-chips{display:flex;flex-wrap:wrap;gap:2px;width:max-content;max-width:200px}
.planner-chip{font:bold 10px/14px sans-serif;padding:0 3px;border:1px solid #111;border-radius:2px}
.planner-county-label{display:none;pointer-events:none}
.planner-county-label span{position:absolute;transform:translate(-50%,-50%);white-space:nowrap;color:#5b6470;
 font:11px sans-serif;text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff}
.planner-zoom-hi .planner-county-label{display:block}
.planner-readout{background:rgba(255,255,255,.92);padding:2px 7px;border-radius:4px;font-size:11px;color:#333;
 box-shadow:0 1px 4px rgba(0,0,0,.3);white-space:nowrap}
.planner-readout:empty{display:none}
""".replace("ICON", _LAYERS_ICON)

JS = """
function plannerDecode(a, q) {
  var out = [], x = 0, y = 0;
  for (var i = 0; i < a.length; i += 2) { x += a[i]; y += a[i + 1]; out.push([y / q, x / q]); }
  return out;
}
function plannerInRing(r, lat, lng) {
  var inside = false;
  for (var i = 0, j = r.length - 1; i < r.length; j = i++) {
    var a = r[i], b = r[j];
    if ((a[0] > lat) !== (b[0] > lat) && lng < (b[1] - a[1]) * (lat - a[0]) / (b[0] - a[0]) + a[1]) inside = !inside;
  }
  return inside;
}
function plannerOutlines(map, group, d) {
  var units = [];
  d.layers.forEach(function (ly) {
    var opts = Object.assign({interactive: false}, ly.style);
    ly.items.forEach(function (it) {
      var g = it[1].map(function (p) {
        return ly.line ? plannerDecode(p, d.q) : p.map(function (r) { return plannerDecode(r, d.q); });
      });
      var l = ly.line ? new L.Polyline(g, opts) : new L.Polygon(g, opts);  // the constructors: tests count calls
      group.addLayer(l);
      if (ly.readout && it[0]) units.push({n: it[0], b: l.getBounds(), g: g});
    });
  });
  (d.labels || []).forEach(function (t) {
    group.addLayer(new L.Marker([t[0], t[1]], {interactive: false, keyboard: false,
      icon: L.divIcon({className: 'planner-county-label', html: '<span>' + t[2] + '</span>', iconSize: [0, 0]})}));
  });
  if (units.length) setTimeout(function () { plannerReadout(map, group, units); }, 0);
}
function plannerReadout(map, group, units) {
  var ctl = L.control({position: 'topright'});
  ctl.onAdd = function () { return L.DomUtil.create('div', 'planner-readout leaflet-control'); };
  ctl.addTo(map);
  var el = ctl.getContainer(), pending = null;
  map.on('mousemove', function (e) {
    pending = e.latlng;
    requestAnimationFrame(function () {
      if (!pending) return;
      var p = pending, hit = ''; pending = null;
      if (map.hasLayer(group)) {
        for (var i = 0; i < units.length && !hit; i++) {
          var u = units[i];
          if (!u.b.contains(p)) continue;
          for (var k = 0; k < u.g.length; k++) {
            var poly = u.g[k], inHole = false;
            if (!plannerInRing(poly[0], p.lat, p.lng)) continue;
            for (var h = 1; h < poly.length; h++) if (plannerInRing(poly[h], p.lat, p.lng)) inHole = true;
            if (!inHole) { hit = u.n; break; }
          }
        }
      }
      el.innerHTML = hit;
    });
  });
  map.on('mouseout', function () { el.innerHTML = ''; });
}
function plannerRect(e) { return e.getBoundingClientRect(); }
function plannerHits(r, list) {
  for (var i = 0; i < list.length; i++) {
    var o = list[i];
    if (r.left < o.right && r.right > o.left && r.top < o.bottom && r.bottom > o.top) return true;
  }
  return false;
}
function plannerLayout(map) {
  var c = map.getContainer(), box = plannerRect(c), pad = 3;
  var taken = Array.prototype.map.call(c.querySelectorAll('.leaflet-control'), plannerRect);
  var syms = Array.prototype.slice.call(c.querySelectorAll('.planner-sym, .planner-obstacle'));
  var labels = Array.prototype.slice.call(c.querySelectorAll('.planner-label'));
  labels.sort(function (a, b) { return (+b.dataset.prio || 0) - (+a.dataset.prio || 0); });
  labels.forEach(function (l) {
    var own = l.parentNode, others = syms.filter(function (s) { return !own.contains(s); }).map(plannerRect);
    var sides = ['pl-r', 'pl-l', 'pl-t', 'pl-b', 'pl-tr', 'pl-br', 'pl-tl', 'pl-bl'], placed = false;
    for (var i = 0; i < sides.length && !placed; i++) {
      l.className = 'planner-label ' + sides[i];
      var r = plannerRect(l);
      if (r.left < box.left + pad || r.right > box.right - pad || r.top < box.top + pad || r.bottom > box.bottom - pad)
        continue;
      if (plannerHits(r, taken) || plannerHits(r, others)) continue;
      taken.push(r); placed = true;
    }
    if (!placed) l.className = 'planner-label pl-hide';
  });
}
function plannerFitLegends(map) {
  var c = map.getContainer(), bodies = c.querySelectorAll('.planner-legend-body');
  if (!bodies.length) return;
  var size = map.getSize(), each = Math.max(50, (size.y - 190) / bodies.length - 24);
  bodies.forEach(function (b) { b.style.maxHeight = each + 'px'; });
  c.querySelectorAll('.planner-legend').forEach(function (d) {
    d.style.maxWidth = Math.max(160, size.x * 0.42) + 'px';
  });
}
function plannerFit(map, fit) {
  /* the data's bounds, clear of the legends: padded on the left or at the bottom, whichever loses less */
  var size = map.getSize(), corner = map.getContainer().querySelector('.leaflet-bottom.leaflet-left');
  if (size.x < 100 || size.y < 100) return false;
  var r = corner ? corner.getBoundingClientRect() : {width: 0, height: 0}, left = 12, bottom = 12;
  if (r.width / size.x < r.height / size.y) left = Math.min(r.width + 12, size.x / 2);
  else bottom = Math.min(r.height + 12, size.y / 2);
  map.fitBounds(fit, {paddingTopLeft: [left, 12], paddingBottomRight: [12, bottom], maxZoom: 16, animate: false});
  return true;
}
function plannerSetup(map, countyZoom, fit) {
  var c = map.getContainer(), queued = false, fitted = !fit;
  if (fit) map.fitBounds(fit, {maxZoom: 16, animate: false});
  function run() {
    queued = false;
    c.classList.toggle('planner-zoom-hi', map.getZoom() >= countyZoom);
    plannerFitLegends(map);
    if (!fitted) { fitted = plannerFit(map, fit); if (fitted) return; }
    plannerLayout(map);
  }
  function later() { if (!queued) { queued = true; setTimeout(run, 30); } }
  map.on('zoomend moveend resize overlayadd overlayremove baselayerchange', later);
  later();
}
function plannerLinkLegend(map, div) {
  var rows = Array.prototype.slice.call(div.querySelectorAll('[data-layer]'));
  if (!rows.length) return;
  var solo = null;
  function layer(r) { return window[r.dataset.layer]; }
  function each(l, f) { if (l && l.eachLayer) l.eachLayer(f); }
  function dim(except, on) {
    rows.forEach(function (r) {
      var l = layer(r);
      each(l, function (s) {
        if (s.setStyle) {
          if (s._plannerOpacity === undefined) s._plannerOpacity = s.options.opacity;
          s.setStyle({opacity: on && l !== except ? 0.12 : s._plannerOpacity});
        }
        var e = s.getElement && s.getElement();
        if (e) e.style.opacity = on && l !== except ? 0.25 : '';
      });
      if (on && l === except && l.bringToFront) l.bringToFront();
    });
  }
  rows.forEach(function (r) {
    r.addEventListener('mouseenter', function () { dim(layer(r), true); });
    r.addEventListener('mouseleave', function () { dim(null, false); });
    r.addEventListener('click', function () {
      solo = solo === r ? null : r;
      rows.forEach(function (o) {
        var l = layer(o), show = !solo || o === solo;
        if (!l) return;
        if (show && !map.hasLayer(l)) map.addLayer(l);
        if (!show && map.hasLayer(l)) map.removeLayer(l);
        o.classList.toggle('off', !show);
      });
    });
  });
  map.on('overlayadd overlayremove', function () {
    rows.forEach(function (o) { var l = layer(o); if (l) o.classList.toggle('off', !map.hasLayer(l)); });
  });
}
function plannerLegend(map, html) {
  var ctl = L.control({position: 'POSITION'});
  ctl.onAdd = function () {
    var d = L.DomUtil.create('div', 'planner-legend leaflet-control');
    d.innerHTML = html;
    L.DomEvent.disableClickPropagation(d);
    L.DomEvent.disableScrollPropagation(d);
    return d;
  };
  ctl.addTo(map);
  plannerLinkLegend(map, ctl.getContainer());
  plannerFitLegends(map);
}
""".replace("POSITION", LEGEND_POSITION)


def esc(text: object) -> str:
    """User text made safe for the maps' HTML and for the JavaScript template strings folium writes it into.

    HTML-escaped (quotes included), and the characters that would end or
    interpolate a JavaScript template literal (backtick, ``$``, backslash)
    written as HTML entities, which display as the same characters.
    """
    return (_html.escape(str(text), quote=True).replace("`", "&#96;").replace("$", "&#36;")
            .replace("\\", "&#92;"))


def script_json(value: object) -> str:
    """JSON safe inside a <script> element (no ``</``, no ``<!--``)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def page_setup(fit: list[list[float]] | None = None) -> Any:
    """The element that puts :data:`CSS` and :data:`JS` in the page and lays out labels and legends; ``fit``
    ([[south, west], [north, east]], display system) is the view fitted, clear of the legends, on load."""
    from branca.element import Element, Figure, MacroElement
    from jinja2 import Template

    class PageSetup(MacroElement):
        _template = Template("""
            {% macro script(this, kwargs) %}
            plannerSetup({{ this._parent.get_name() }}, {{ this.county_zoom }}, {{ this.fit }});
            {% endmacro %}""")

        def __init__(self) -> None:
            super().__init__()
            self._name = "PlannerPage"
            self.county_zoom = COUNTY_LABEL_ZOOM
            self.fit = script_json(fit)

        def render(self, **kwargs: Any) -> Any:
            fig = self.get_root()
            if isinstance(fig, Figure):
                fig.header.add_child(Element(f"<style>{CSS}</style>"), name="planner_css")
                fig.header.add_child(Element(f"<script>{JS}</script>"), name="planner_js")
            return super().render(**kwargs)

    return PageSetup()


def legend_element(html: str) -> Any:
    """A legend (HTML from :func:`legend_html`) as a Leaflet control at :data:`LEGEND_POSITION`."""
    from branca.element import MacroElement
    from jinja2 import Template

    class Legend(MacroElement):
        _template = Template("""
            {% macro script(this, kwargs) %}
            plannerLegend({{ this._parent.get_name() }}, {{ this.html }});
            {% endmacro %}""")

        def __init__(self, html: str) -> None:
            super().__init__()
            self._name = "PlannerLegend"
            self.html = script_json(html)

    return Legend(html)


def outlines_layer(name: str, data: str, *, show: bool = True, overlay: bool = True, control: bool = True) -> Any:
    """A feature group filled, in the browser, from compact outline data (``data``: JSON from
    :func:`script_json`; see ``geography``)."""
    from folium.map import FeatureGroup
    from jinja2 import Template

    class Outlines(FeatureGroup):
        _template = Template("""
            {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.featureGroup({});
            plannerOutlines({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.data }});
            {% endmacro %}""")

        def __init__(self) -> None:
            super().__init__(name=name, overlay=overlay, control=control, show=show)
            self._name = "PlannerOutlines"
            self.data = data

    return Outlines()


SYMBOLS = ("dot", "ring", "dashcircle", "square", "hollow", "line", "dashed", "tri", "hex", "badge", "chip")


def symbol_html(kind: str, colour: str, text: str = "") -> str:
    """A legend symbol: ``kind`` one of :data:`SYMBOLS` in ``colour`` (``badge`` and ``chip`` show ``text``)."""
    c = _html.escape(colour, quote=True)
    style = {"dot": f"background:{c}", "ring": f"border-color:{c}", "dashcircle": f"border-color:{c}",
             "square": f"background:{c}", "hollow": f"border-color:{c}", "line": f"border-top-color:{c}",
             "dashed": f"border-top-color:{c}", "tri": f"border-bottom-color:{c}", "hex": f"background:{c}",
             "badge": f"background:{c};color:{text_on(colour)}", "chip": f"background:{c};color:{text_on(colour)}",
             }.get(kind, f"background:{c}")
    body = _html.escape(text) if kind in ("badge", "chip") else ""
    return f'<span class="ps ps-{kind}" data-kind="{kind}" data-colour="{c}" style="{style}">{body}</span>'


def legend_row(label: str, symbol: str | tuple, layer: str | None = None) -> str:
    """One legend row: ``symbol`` a colour (a dot) or (kind, colour[, text]); ``layer`` a layer's JS name."""
    kind, colour, text = ("dot", symbol, "") if isinstance(symbol, str) else (*symbol, "")[:3]
    attr = f' data-layer="{_html.escape(layer, quote=True)}"' if layer else ""
    title = ' title="hover: highlight · click: this one alone (again: all)"' if layer else ""
    return (f'<div class="planner-legend-row"{attr}{title}>{symbol_html(kind, colour, text)}'
            f'<span>{_html.escape(label)}</span></div>')


def legend_html(title: str, items: Mapping[str, str | tuple], *, layers: Mapping[str, str] | None = None,
                note: str = "", body: str = "", grid: Mapping[str, str | tuple] | None = None,
                columns: int = 3) -> str:
    """A foldable legend: ``title``, the ``grid`` items in ``columns`` columns (many short entries, such as
    reps), one row per item (label -> colour or (kind, colour[, text])), an optional ``note`` and extra
    ``body`` HTML (already safe)."""
    cells = "".join(legend_row(k, v, (layers or {}).get(k)) for k, v in (grid or {}).items() if k)
    rows = (f'<div class="planner-legend-grid" style="grid-template-columns:repeat({int(columns)},auto)">{cells}'
            "</div>") if cells else ""
    rows += "".join(legend_row(k, v, (layers or {}).get(k)) for k, v in items.items() if k)
    extra = f'<div class="planner-legend-note">{_html.escape(note)}</div>' if note else ""
    return (f'<details open><summary>{_html.escape(title)}</summary><div class="planner-legend-body">{rows}{body}'
            f"{extra}</div></details>")
