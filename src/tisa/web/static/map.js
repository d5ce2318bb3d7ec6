/*
 * tisa offline event map (plain ES2017, no build step, no modules).
 *
 * Requires the vendored Leaflet (static/vendor/leaflet/leaflet.js + .css)
 * and map.css to be loaded first. Works air-gapped: no tile layer; the base
 * map is the vendored Natural Earth GeoJSON on a sea-coloured background.
 *
 *   var m = window.tisaMap.create(element, {
 *     geojsonUrl: "/ui/static/vendor/naturalearth/korea-japan.geojson",
 *     labels: { legendTitle: "...", KOR: "...", ... }   // optional, partial
 *   });
 *   m.update(eventData);   // draws eventData.map.points (and .trails)
 *   m.update(eventData, { fit: false });   // keeps the view (a replay's slider moving)
 *
 * Each point: {role: "launch"|"impact"|"site"|"missile", lat, lon, sigma_km|null,
 *              originator: "KOR"|"JPN"|"USA"|"FUSED", fused: bool, label,
 *              ellipse?: {semi_major_km, semi_minor_km, orientation_deg}}.
 * With `ellipse` the 1-sigma error ellipse is drawn with its true semi-axes and orientation
 * (degrees clockwise from north of the major axis, as an IIP carries it); without, a circle
 * of `sigma_km`. Each trail: {originator, fused, latlngs: [[lat, lon], ...]}, a solid line.
 */
(function (global) {
  "use strict";

  var DEFAULT_GEOJSON_URL = "/ui/static/vendor/naturalearth/korea-japan.geojson";

  // Initial view: lat 33..46, lon 123..145.
  var INITIAL_BOUNDS = [[33, 123], [46, 145]];

  var KM_PER_DEG_LAT = 111.32;
  var ELLIPSE_VERTICES = 64;
  var FIT_MAX_ZOOM = 8;
  var FIT_PADDING = [40, 40];

  var DEFAULT_LABELS = {
    mapLabel: "Map of launch and impact estimates",
    legendTitle: "Legend",
    originatorsTitle: "Source",
    rolesTitle: "Point type",
    KOR: "Korea (KOR)",
    JPN: "Japan (JPN)",
    USA: "United States (USA)",
    FUSED: "Fused estimate",
    launch: "Launch point",
    impact: "Impact point",
    site: "Test site",
    missile: "Missile now",
    sigma: "1σ uncertainty",
    track: "Launch → impact",
    sigmaValue: "1σ ≈ {km} km",
    baseMapError: "Base map could not be loaded",
    zoomIn: "Zoom in",
    zoomOut: "Zoom out"
  };

  var ORIGINATORS = ["KOR", "JPN", "USA", "FUSED"];
  var ROLES = ["launch", "impact", "site", "missile"];

  // One colour per originator; FUSED additionally gets an emphasised style
  // (bigger marker, dark outline, thicker ellipse and track, drawn on top).
  var COLORS = {
    KOR: "#1565c0",   // blue
    JPN: "#c62828",   // red
    USA: "#2e7d32",   // green
    FUSED: "#7b1fa2"  // purple
  };
  var UNKNOWN_COLOR = "#616161";
  var LEGEND_ROLE_COLOR = "#546e7a";

  function mergeLabels(labels) {
    var out = {};
    var k;
    for (k in DEFAULT_LABELS) {
      if (Object.prototype.hasOwnProperty.call(DEFAULT_LABELS, k)) out[k] = DEFAULT_LABELS[k];
    }
    if (labels && typeof labels === "object") {
      for (k in labels) {
        if (Object.prototype.hasOwnProperty.call(labels, k) && typeof labels[k] === "string") {
          out[k] = labels[k];
        }
      }
    }
    return out;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function isNum(v) {
    return typeof v === "number" && isFinite(v);
  }

  function originatorOf(p) {
    var o = typeof p.originator === "string" ? p.originator.toUpperCase() : "";
    if (p.fused === true) return "FUSED";
    return o;
  }

  function colorOf(originator) {
    return COLORS[originator] || UNKNOWN_COLOR;
  }

  // --- marker shapes (inline SVG; only our own constants go into the markup) ---

  function shapeSvg(role, color, size, emphasised) {
    var stroke = emphasised ? "#111" : "#fff";
    var sw = emphasised ? 2.2 : 1.6;
    var body;
    if (role === "launch") {
      // upward triangle
      body = '<path d="M12 2.5 L21.5 20.5 L2.5 20.5 Z" fill="' + color + '" stroke="' + stroke +
        '" stroke-width="' + sw + '" stroke-linejoin="round"/>';
    } else if (role === "impact") {
      // circle with a cross (target)
      body = '<circle cx="12" cy="12" r="9" fill="' + color + '" stroke="' + stroke +
        '" stroke-width="' + sw + '"/>' +
        '<path d="M7.5 7.5 L16.5 16.5 M16.5 7.5 L7.5 16.5" stroke="#fff" stroke-width="2" stroke-linecap="round"/>';
    } else if (role === "missile") {
      // a missile in flight: a filled dot
      body = '<circle cx="12" cy="12" r="6.5" fill="' + color + '" stroke="' + stroke +
        '" stroke-width="' + sw + '"/>';
    } else {
      // test site (or unknown role): diamond
      body = '<path d="M12 2.5 L21.5 12 L12 21.5 L2.5 12 Z" fill="' + color + '" stroke="' + stroke +
        '" stroke-width="' + sw + '" stroke-linejoin="round"/>';
    }
    return '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="' + size +
      '" height="' + size + '" aria-hidden="true" focusable="false">' + body + "</svg>";
  }

  function markerIcon(role, originator, emphasised) {
    var size = emphasised ? 26 : 18;
    return L.divIcon({
      className: "tisa-map-marker tisa-map-marker--" + (ROLES.indexOf(role) >= 0 ? role : "site") +
        (emphasised ? " tisa-map-marker--fused" : ""),
      html: shapeSvg(role, colorOf(originator), size, emphasised),
      iconSize: [size, size],
      iconAnchor: [size / 2, size / 2],
      tooltipAnchor: [0, -size / 2],
      popupAnchor: [0, -size / 2]
    });
  }

  // A 1-sigma ellipse on the ground as a lat/lon polygon: semi-axes in km (the minor one
  // defaults to the major: a circle), the major axis `orientationDeg` clockwise from north.
  // Offsets are taken east/north on the local tangent plane, then to degrees.
  function ellipseLatLngs(lat, lon, majorKm, minorKm, orientationDeg) {
    var a = majorKm;
    var b = isNum(minorKm) ? minorKm : majorKm;
    var theta = (isNum(orientationDeg) ? orientationDeg : 0) * Math.PI / 180;
    var cosLat = Math.max(Math.cos(lat * Math.PI / 180), 1e-6);
    // Unit vectors (east, north) of the major and the minor axis.
    var ue = Math.sin(theta), un = Math.cos(theta);
    var ve = Math.cos(theta), vn = -Math.sin(theta);
    var pts = [];
    for (var i = 0; i < ELLIPSE_VERTICES; i++) {
      var t = 2 * Math.PI * i / ELLIPSE_VERTICES;
      var east = a * Math.cos(t) * ue + b * Math.sin(t) * ve;
      var north = a * Math.cos(t) * un + b * Math.sin(t) * vn;
      pts.push([lat + north / KM_PER_DEG_LAT, lon + east / (KM_PER_DEG_LAT * cosLat)]);
    }
    return pts;
  }

  function ellipseOf(p) {
    var e = p.ellipse;
    if (e && isNum(e.semi_major_km) && e.semi_major_km > 0) {
      return { a: e.semi_major_km, b: isNum(e.semi_minor_km) ? e.semi_minor_km : e.semi_major_km,
        theta: isNum(e.orientation_deg) ? e.orientation_deg : 0 };
    }
    if (isNum(p.sigma_km) && p.sigma_km > 0) return { a: p.sigma_km, b: p.sigma_km, theta: 0 };
    return null;
  }

  function fmtKm(km) {
    if (km >= 100) return String(Math.round(km));
    if (km >= 10) return km.toFixed(1).replace(/\.0$/, "");
    return km.toFixed(2).replace(/0$/, "").replace(/\.0$/, "");
  }

  function fmtCoord(lat, lon) {
    return lat.toFixed(3) + ", " + lon.toFixed(3);
  }

  // --- legend control ---

  // Created lazily so that loading this file before Leaflet is not fatal.
  var LegendControl = null;
  function legendClass() {
    if (!LegendControl) LegendControl = L.Control.extend(LEGEND_PROTO);
    return LegendControl;
  }

  var LEGEND_PROTO = {
    options: { position: "bottomright" },
    initialize: function (labels, options) {
      L.setOptions(this, options);
      this._labels = labels;
      // Folded at first on a small map (a phone), where it would cover most of it.
      this._folded = false;
    },
    setLabels: function (labels) {
      this._labels = labels;
      if (this._container) this._render(this._container);
    },
    onAdd: function (map) {
      var size = map.getSize();
      this._folded = size.x < 500 || size.y < 360;
      var c = el("section", "tisa-map-legend leaflet-control");
      L.DomEvent.disableClickPropagation(c);
      L.DomEvent.disableScrollPropagation(c);
      this._render(c);
      return c;
    },
    _render: function (c) {
      var lb = this._labels;
      while (c.firstChild) c.removeChild(c.firstChild);
      var idBase = "tisa-map-legend-" + L.Util.stamp(this);
      c.setAttribute("aria-labelledby", idBase);
      // The title is a button that folds the legend away: open, it can sit over a marker
      // (an impact point near the corner); folded, only the title is left on the map.
      var h = el("button", "tisa-map-legend__title", lb.legendTitle);
      h.type = "button";
      h.id = idBase;
      var self = this;
      h.setAttribute("aria-expanded", this._folded ? "false" : "true");
      h.addEventListener("click", function () {
        self._folded = !self._folded;
        self._render(c);
        var again = document.getElementById(idBase);
        if (again) again.focus();
      });
      c.appendChild(h);
      c.classList.toggle("tisa-map-legend--folded", !!this._folded);
      if (this._folded) return;

      var row = function (list, swatchHtml, text, extraClass) {
        var li = el("li", "tisa-map-legend__item" + (extraClass ? " " + extraClass : ""));
        var sw = el("span", "tisa-map-legend__swatch");
        sw.setAttribute("aria-hidden", "true");
        sw.innerHTML = swatchHtml;
        li.appendChild(sw);
        li.appendChild(el("span", "tisa-map-legend__label", text));
        list.appendChild(li);
      };

      var sub1 = el("div", "tisa-map-legend__subtitle", lb.originatorsTitle);
      sub1.id = idBase + "-o";
      c.appendChild(sub1);
      var ul1 = el("ul", "tisa-map-legend__list");
      ul1.setAttribute("aria-labelledby", sub1.id);
      ORIGINATORS.forEach(function (o) {
        var fused = o === "FUSED";
        var svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">' +
          '<rect x="3" y="3" width="18" height="18" rx="3" fill="' + colorOf(o) + '" stroke="' +
          (fused ? "#111" : "#fff") + '" stroke-width="' + (fused ? 2.5 : 1.5) + '"/></svg>';
        row(ul1, svg, lb[o], fused ? "tisa-map-legend__item--fused" : "");
      });
      c.appendChild(ul1);

      var sub2 = el("div", "tisa-map-legend__subtitle", lb.rolesTitle);
      sub2.id = idBase + "-r";
      c.appendChild(sub2);
      var ul2 = el("ul", "tisa-map-legend__list");
      ul2.setAttribute("aria-labelledby", sub2.id);
      ROLES.forEach(function (r) {
        row(ul2, shapeSvg(r, LEGEND_ROLE_COLOR, 16, false), lb[r]);
      });
      row(ul2,
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 16" width="24" height="16">' +
        '<ellipse cx="12" cy="8" rx="10" ry="6" fill="' + LEGEND_ROLE_COLOR + '" fill-opacity="0.15" stroke="' +
        LEGEND_ROLE_COLOR + '" stroke-width="1.5"/></svg>', lb.sigma);
      row(ul2,
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 16" width="24" height="16">' +
        '<path d="M1 8 H23" stroke="' + LEGEND_ROLE_COLOR + '" stroke-width="1.5" stroke-dasharray="4 3"/></svg>',
        lb.track);
      c.appendChild(ul2);
    }
  };

  // --- styles for the base map ---

  function baseStyle(feature) {
    var kind = feature && feature.properties && feature.properties.kind;
    if (kind === "border") {
      return { color: "#8d7f9b", weight: 1, opacity: 0.9, dashArray: "4 3", fill: false };
    }
    if (kind === "coast") {
      return { color: "#7d8c99", weight: 0.8, opacity: 1, fill: false };
    }
    // land polygons: filled only (clip edges must not be stroked)
    return { stroke: false, fill: true, fillColor: "#f3f0e6", fillOpacity: 1 };
  }

  // --- the map object ---

  function TisaMap(element, options) {
    if (typeof L === "undefined") throw new Error("tisaMap: Leaflet (window.L) is not loaded");
    if (typeof element === "string") element = document.getElementById(element);
    if (!element) throw new Error("tisaMap: no map element");
    options = options || {};
    this.element = element;
    this.labels = mergeLabels(options.labels);
    this._lastData = null;

    element.classList.add("tisa-map");
    if (!element.getAttribute("role")) element.setAttribute("role", "region");
    if (!element.getAttribute("aria-label")) element.setAttribute("aria-label", this.labels.mapLabel);

    element.tisaMap = this;   // the page's map, for scripts and tests that steer the view
    var map = L.map(element, {
      zoomControl: false,  // added below, with its buttons' titles in the reader's language
      attributionControl: true,
      keyboard: true,
      minZoom: 3,
      maxZoom: 12,
      zoomSnap: 0.25,
      worldCopyJump: false
    });
    this.map = map;
    L.control.zoom({ zoomInTitle: this.labels.zoomIn, zoomOutTitle: this.labels.zoomOut }).addTo(map);
    map.attributionControl.setPrefix("Leaflet");
    map.fitBounds(INITIAL_BOUNDS, { animate: false });

    // Land goes in its own pane below the overlay pane so that ellipses and
    // tracks are always drawn above it, whenever the GeoJSON arrives.
    map.createPane("tisaLand");
    map.getPane("tisaLand").style.zIndex = 250;
    map.getPane("tisaLand").style.pointerEvents = "none";

    L.control.scale({ position: "bottomleft", metric: true, imperial: false, maxWidth: 160 }).addTo(map);
    this._legend = new (legendClass())(this.labels).addTo(map);

    this._overlays = L.featureGroup().addTo(map);   // ellipses + tracks
    this._markers = L.featureGroup().addTo(map);    // markers

    var self = this;
    var url = options.geojsonUrl || DEFAULT_GEOJSON_URL;
    this.ready = fetch(url, { credentials: "same-origin" })
      .then(function (resp) {
        if (!resp.ok) throw new Error("HTTP " + resp.status + " for " + url);
        return resp.json();
      })
      .then(function (geojson) {
        self._base = L.geoJSON(geojson, {
          pane: "tisaLand",
          interactive: false,
          style: baseStyle,
          attribution: "Natural Earth"
        }).addTo(map);
        return self;
      })
      .catch(function (err) {
        element.classList.add("tisa-map--no-basemap");
        element.setAttribute("data-basemap-error", self.labels.baseMapError);
        if (global.console) console.warn("tisaMap: base map not loaded:", err);
        return self;
      });
  }

  TisaMap.prototype.update = function (eventData, options) {
    var fit = !(options && options.fit === false);
    this._lastData = eventData;
    this._overlays.clearLayers();
    this._markers.clearLayers();

    var raw = eventData && eventData.map && Array.isArray(eventData.map.points) ? eventData.map.points : [];
    var points = raw.filter(function (p) {
      return p && isNum(p.lat) && isNum(p.lon) && p.lat >= -90 && p.lat <= 90;
    });
    // Fused points last, so they end up on top.
    points = points.slice().sort(function (a, b) {
      return (originatorOf(a) === "FUSED" ? 1 : 0) - (originatorOf(b) === "FUSED" ? 1 : 0);
    });

    var bounds = L.latLngBounds([]);
    var byOriginator = {};
    var self = this;
    var lb = this.labels;

    points.forEach(function (p) {
      var originator = originatorOf(p);
      var fused = originator === "FUSED";
      var role = ROLES.indexOf(p.role) >= 0 ? p.role : "site";
      var color = colorOf(originator);
      var latlng = L.latLng(p.lat, p.lon);
      bounds.extend(latlng);

      var shape = ellipseOf(p);
      if (shape) {
        var ell = L.polygon(ellipseLatLngs(p.lat, p.lon, shape.a, shape.b, shape.theta), {
          color: color,
          weight: fused ? 2.5 : 1.5,
          opacity: fused ? 1 : 0.85,
          fillColor: color,
          fillOpacity: fused ? 0.18 : 0.08,
          smoothFactor: 0,   // every vertex drawn: the shape is the ellipse, not a simplification
          interactive: false,
          className: "tisa-map-ellipse" + (fused ? " tisa-map-ellipse--fused" : "")
        });
        self._overlays.addLayer(ell);
        var path = ell.getElement && ell.getElement();
        if (path) {
          // What was drawn, for a reader's tools and for tests: the axes and orientation.
          path.setAttribute("data-semi-major-km", String(shape.a));
          path.setAttribute("data-semi-minor-km", String(shape.b));
          path.setAttribute("data-orientation-deg", String(shape.theta));
          path.setAttribute("data-originator", originator);
        }
        bounds.extend(ell.getBounds());
      }

      var text = typeof p.label === "string" && p.label ? p.label : (lb[role] || role);
      var marker = L.marker(latlng, {
        icon: markerIcon(role, originator, fused),
        keyboard: true,
        riseOnHover: true,
        zIndexOffset: fused ? 1000 : 0
      });

      var tip = el("span", "tisa-map-tooltip", text);
      marker.bindTooltip(tip, { direction: "top", opacity: 0.95 });

      var pop = el("div", "tisa-map-popup");
      pop.appendChild(el("strong", "tisa-map-popup__label", text));
      pop.appendChild(el("div", "tisa-map-popup__meta",
        (lb[role] || role) + " · " + (lb[originator] || originator || "?")));
      if (isNum(p.sigma_km)) {
        pop.appendChild(el("div", "tisa-map-popup__sigma",
          lb.sigmaValue.replace("{km}", fmtKm(p.sigma_km))));
      }
      pop.appendChild(el("div", "tisa-map-popup__coord", fmtCoord(p.lat, p.lon)));
      marker.bindPopup(pop);

      self._markers.addLayer(marker);
      var iconEl = marker.getElement();
      if (iconEl) {
        iconEl.setAttribute("aria-label", text + " — " + (lb[role] || role) + ", " + (lb[originator] || originator));
      }

      var key = originator || "?";
      if (!byOriginator[key]) byOriginator[key] = { launch: [], impact: [] };
      if (role === "launch" || role === "impact") byOriginator[key][role].push(latlng);
    });

    // Thin dashed launch -> impact line per originator (paired in order).
    Object.keys(byOriginator).forEach(function (o) {
      var g = byOriginator[o];
      var n = Math.min(g.launch.length, g.impact.length);
      for (var i = 0; i < n; i++) {
        self._overlays.addLayer(L.polyline([g.launch[i], g.impact[i]], {
          color: colorOf(o),
          weight: o === "FUSED" ? 2.5 : 1.5,
          opacity: 0.9,
          dashArray: "6 5",
          interactive: false,
          className: "tisa-map-track"
        }));
      }
    });

    // Each trail: where a track has been, a solid line in its originator's colour.
    var trails = eventData && eventData.map && Array.isArray(eventData.map.trails) ? eventData.map.trails : [];
    trails.forEach(function (trail) {
      var o = trail.fused ? "FUSED" : String(trail.originator || "").toUpperCase();
      var pts = (trail.latlngs || []).filter(function (q) { return isNum(q[0]) && isNum(q[1]); });
      if (pts.length < 2) return;
      var line = L.polyline(pts, {
        color: colorOf(o),
        weight: o === "FUSED" ? 3 : 2,
        opacity: 0.9,
        interactive: false,
        className: "tisa-map-trail tisa-map-trail--" + o.toLowerCase()
      });
      self._overlays.addLayer(line);
      bounds.extend(line.getBounds());
    });

    if (fit && bounds.isValid()) {
      this.map.fitBounds(bounds, { padding: FIT_PADDING, maxZoom: FIT_MAX_ZOOM });
    }
    return this;
  };

  TisaMap.prototype.setLabels = function (labels) {
    this.labels = mergeLabels(labels);
    this._legend.setLabels(this.labels);
    this.element.setAttribute("aria-label", this.labels.mapLabel);
    if (this._lastData) this.update(this._lastData);
    return this;
  };

  TisaMap.prototype.invalidateSize = function () {
    this.map.invalidateSize();
    return this;
  };

  TisaMap.prototype.destroy = function () {
    this.map.remove();
    this.element.classList.remove("tisa-map");
  };

  global.tisaMap = {
    create: function (element, options) {
      return new TisaMap(element, options);
    },
    defaultLabels: mergeLabels(null),
    colors: { KOR: COLORS.KOR, JPN: COLORS.JPN, USA: COLORS.USA, FUSED: COLORS.FUSED },
    ellipseLatLngs: ellipseLatLngs,
    DEFAULT_GEOJSON_URL: DEFAULT_GEOJSON_URL
  };
})(window);
