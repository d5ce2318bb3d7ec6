#!/usr/bin/env bash
# Vendor the offline map assets used by the tisa web UI.
#
#   * Leaflet (JS, CSS, marker/layer images, licence) from the npm registry.
#   * Natural Earth country polygons (public domain) for the Korea / Japan
#     region, via the `world-atlas` npm package (TopoJSON), converted to
#     GeoJSON with `topojson-client`, clipped to a bbox and rounded.
#
# Outputs (committed to the repository; this script is NOT run by CI):
#   src/tisa/web/static/vendor/leaflet/{leaflet.js,leaflet.css,images/,LICENSE}
#   src/tisa/web/static/vendor/naturalearth/korea-japan.geojson
#
# Requirements: bash, node (>= 18) and npm with access to the npm registry.
# Usage (from anywhere in a fresh clone):  bash scripts/vendor_map.sh
set -euo pipefail

LEAFLET_VERSION="1.9.4"
WORLD_ATLAS_VERSION="2.0.2"
TOPOJSON_CLIENT_VERSION="3.1.0"
# Natural Earth scale inside world-atlas: countries-10m.json / countries-50m.json
NE_SCALE="${NE_SCALE:-50m}"
# Clip box (lon_min lat_min lon_max lat_max); a margin around lon 115..150,
# lat 25..50 so that the clip edges are never visible in the UI's region.
BBOX="105 15 160 58"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$REPO_ROOT/src/tisa/web/static/vendor"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tisa-vendor-map.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "==> npm install into $WORK"
(
  cd "$WORK"
  npm init -y >/dev/null
  npm install --no-audit --no-fund --ignore-scripts --no-package-lock \
    "leaflet@$LEAFLET_VERSION" \
    "world-atlas@$WORLD_ATLAS_VERSION" \
    "topojson-client@$TOPOJSON_CLIENT_VERSION" >/dev/null
)
NM="$WORK/node_modules"

echo "==> Leaflet $LEAFLET_VERSION -> $VENDOR/leaflet"
rm -rf "$VENDOR/leaflet"
mkdir -p "$VENDOR/leaflet/images"
cp "$NM/leaflet/dist/leaflet.js" "$NM/leaflet/dist/leaflet.css" "$VENDOR/leaflet/"
cp "$NM/leaflet/dist/images/"*.png "$VENDOR/leaflet/images/"
cp "$NM/leaflet/LICENSE" "$VENDOR/leaflet/LICENSE"

echo "==> Natural Earth $NE_SCALE (world-atlas $WORLD_ATLAS_VERSION) -> $VENDOR/naturalearth"
mkdir -p "$VENDOR/naturalearth"
cat > "$WORK/convert.js" <<'JS'
// Usage: node convert.js <countries-XXm.json> <out.geojson> lonMin latMin lonMax latMax
"use strict";
const fs = require("fs");
const topojson = require("topojson-client");

const [src, out, ...bb] = process.argv.slice(2);
const [X0, Y0, X1, Y1] = bb.map(Number);
const topo = JSON.parse(fs.readFileSync(src, "utf8"));
const obj = topo.objects.countries;
const r3 = (v) => Math.round(v * 1000) / 1000;

// Sutherland-Hodgman clip of a closed ring against the bbox.
function clipRing(ring) {
  let pts = ring.slice(0, -1);
  const edges = [
    [(p) => p[0] >= X0, (a, b) => [X0, a[1] + (b[1] - a[1]) * (X0 - a[0]) / (b[0] - a[0])]],
    [(p) => p[0] <= X1, (a, b) => [X1, a[1] + (b[1] - a[1]) * (X1 - a[0]) / (b[0] - a[0])]],
    [(p) => p[1] >= Y0, (a, b) => [a[0] + (b[0] - a[0]) * (Y0 - a[1]) / (b[1] - a[1]), Y0]],
    [(p) => p[1] <= Y1, (a, b) => [a[0] + (b[0] - a[0]) * (Y1 - a[1]) / (b[1] - a[1]), Y1]],
  ];
  for (const [inside, cut] of edges) {
    if (!pts.length) break;
    const res = [];
    for (let i = 0; i < pts.length; i++) {
      const cur = pts[i], prev = pts[(i + pts.length - 1) % pts.length];
      if (inside(cur)) {
        if (!inside(prev)) res.push(cut(prev, cur));
        res.push(cur);
      } else if (inside(prev)) {
        res.push(cut(prev, cur));
      }
    }
    pts = res;
  }
  pts = dedupe(pts.map((p) => [r3(p[0]), r3(p[1])]));
  if (pts.length < 3) return null;
  pts.push(pts[0].slice());
  return pts;
}

// Clip a polyline against the bbox (Liang-Barsky per segment), returning parts.
function clipLine(line) {
  const parts = [];
  let cur = null;
  for (let i = 0; i + 1 < line.length; i++) {
    const [ax, ay] = line[i], [bx, by] = line[i + 1];
    const dx = bx - ax, dy = by - ay;
    let t0 = 0, t1 = 1, ok = true;
    for (const [p, q] of [[-dx, ax - X0], [dx, X1 - ax], [-dy, ay - Y0], [dy, Y1 - ay]]) {
      if (p === 0) { if (q < 0) { ok = false; break; } continue; }
      const t = q / p;
      if (p < 0) { if (t > t1) { ok = false; break; } if (t > t0) t0 = t; }
      else { if (t < t0) { ok = false; break; } if (t < t1) t1 = t; }
    }
    if (!ok) { if (cur) { parts.push(cur); cur = null; } continue; }
    const a = [ax + t0 * dx, ay + t0 * dy], b = [ax + t1 * dx, ay + t1 * dy];
    if (!cur) cur = [a];
    cur.push(b);
    if (t1 < 1) { parts.push(cur); cur = null; }
  }
  if (cur) parts.push(cur);
  return parts
    .map((pts) => dedupe(pts.map((p) => [r3(p[0]), r3(p[1])])))
    .filter((pts) => pts.length >= 2);
}

function dedupe(pts) {
  const res = [];
  for (const p of pts) {
    const q = res[res.length - 1];
    if (!q || q[0] !== p[0] || q[1] !== p[1]) res.push(p);
  }
  return res;
}

const features = [];

// 1. Land: one (clipped) MultiPolygon per country; filled, not stroked.
for (const f of topojson.feature(topo, obj).features) {
  const g = f.geometry;
  if (!g) continue;
  const polys = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
  const kept = [];
  for (const poly of polys) {
    const outer = clipRing(poly[0]);
    if (!outer) continue;
    const holes = poly.slice(1).map(clipRing).filter(Boolean);
    kept.push([outer, ...holes]);
  }
  if (!kept.length) continue;
  features.push({
    type: "Feature",
    properties: { kind: "land", name: f.properties && f.properties.name, id: f.id == null ? null : String(f.id) },
    geometry: kept.length === 1 ? { type: "Polygon", coordinates: kept[0] } : { type: "MultiPolygon", coordinates: kept },
  });
}

// 2. Coastlines (arcs used by one country only) and 3. land borders (shared
// arcs), as lines, so that the artificial clip edges are never stroked.
for (const [kind, filter] of [["coast", (a, b) => a === b], ["border", (a, b) => a !== b]]) {
  const mesh = topojson.mesh(topo, obj, filter);
  const lines = [];
  for (const line of mesh.coordinates) lines.push(...clipLine(line));
  if (lines.length) {
    features.push({ type: "Feature", properties: { kind }, geometry: { type: "MultiLineString", coordinates: lines } });
  }
}

const fc = {
  type: "FeatureCollection",
  bbox: [X0, Y0, X1, Y1],
  properties: {
    source: "Natural Earth (public domain) via npm world-atlas",
    file: require("path").basename(src),
  },
  features,
};
fs.writeFileSync(out, JSON.stringify(fc) + "\n");
console.log(`wrote ${out}: ${features.length} features, ${fs.statSync(out).size} bytes`);
JS
# shellcheck disable=SC2086
(cd "$WORK" && node convert.js "$NM/world-atlas/countries-$NE_SCALE.json" \
  "$VENDOR/naturalearth/korea-japan.geojson" $BBOX)

echo "==> done"
