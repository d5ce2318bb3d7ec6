/* tisa live tracks page: polls the node's tracks and fused picture, draws them on the offline
 * map (each nation's missile, launch point and predicted impact with its 1-sigma ellipse; the
 * fused track emphasised) and refreshes the tables, each fused track linked to the launch event
 * it belongs to. Plain ES2017, no build step. */
(function () {
  "use strict";
  var EVERY_MS = 2000;
  var holder = document.getElementById("map");
  var labels = holder ? JSON.parse(holder.dataset.labels || "{}") : {};
  var map = holder && window.tisaMap ? window.tisaMap.create(holder, { labels: labels }) : null;

  function point(role, where, originator, sigmaM, label, fused) {
    return {
      role: role, lat: where.lat, lon: where.lon, originator: originator, fused: !!fused,
      sigma_km: sigmaM ? sigmaM / 1000 : null, label: label
    };
  }

  // A predicted impact with its true 1-sigma ellipse (axes and orientation as predicted).
  function impactPoint(impact, originator, label, fused) {
    var p = point("impact", impact, originator, impact.semi_major_m, label, fused);
    p.ellipse = {
      semi_major_km: impact.semi_major_m / 1000, semi_minor_km: impact.semi_minor_m / 1000,
      orientation_deg: impact.orientation_deg
    };
    return p;
  }

  function points(tracks, fused) {
    var out = [];
    tracks.forEach(function (t) {
      out.push(point("missile", t.position, t.originator, null, t.label));
      if (t.launch_point) out.push(point("launch", t.launch_point, t.originator, null, t.label));
      if (t.impact) out.push(impactPoint(t.impact, t.originator, t.label));
    });
    fused.forEach(function (f) {
      var label = f.id + " (" + f.sources.join(", ") + ")";
      out.push(point("missile", f.position, "FUSED", f.position_sigma_m, label, true));
      if (f.impact) out.push(impactPoint(f.impact, "FUSED", label, true));
    });
    return out;
  }

  // A cell: text, or {href, text} for a link.
  function cell(value) {
    var td = document.createElement("td");
    if (value && typeof value === "object") {
      var a = document.createElement("a");
      a.href = value.href;
      a.textContent = value.text;
      td.appendChild(a);
    } else {
      td.textContent = value;
    }
    return td;
  }

  function fill(id, rows) {
    var body = document.getElementById(id);
    if (!body) return;
    body.replaceChildren.apply(body, rows.map(function (values) {
      var tr = document.createElement("tr");
      values.forEach(function (v) { tr.appendChild(cell(v)); });
      return tr;
    }));
  }

  function at(p) { return p.lat.toFixed(2) + ", " + p.lon.toFixed(2); }

  function refresh() {
    Promise.all([
      fetch("/api/v1/tracks", { credentials: "same-origin" }).then(function (r) { return r.json(); }),
      fetch("/api/v1/tracks/fused", { credentials: "same-origin" }).then(function (r) { return r.json(); })
    ]).then(function (answers) {
      var tracks = answers[0].tracks || [], picture = answers[1];
      if (map) map.update({ map: { points: points(tracks, picture.fused || []) } });
      fill("track-rows", tracks.map(function (t) {
        return [t.live ? "LIVE" : "—", t.originator + ":" + t.track_id, t.phase, t.status,
          at(t.position), t.impact ? at(t.impact) : "—", t.via || ""];
      }));
      fill("fused-rows", (picture.fused || []).map(function (f) {
        return [f.id, f.sources.join(", "), f.phase, at(f.position),
          f.impact ? at(f.impact) + " ±" + Math.round(f.impact.semi_major_m / 1000) + " km" : "—",
          f.event ? { href: "/ui/events/" + encodeURIComponent(f.event), text: f.event } : "—"];
      }));
    }).catch(function () { /* the next poll tries again */ });
  }

  refresh();
  setInterval(refresh, EVERY_MS);
})();
