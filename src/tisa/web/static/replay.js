/* tisa replay page: one past flight, frame by frame. Reads GET /api/v1/tracks/replay once;
 * the slider (keyboard: arrows, Home, End) and Play/Pause choose the moment, and the map and
 * tables show what was known then: each nation's track (its trail so far, its missile, launch
 * point and predicted impact with the true 1-sigma ellipse) and the fused track(s) recomputed
 * by the node. Plain ES2017, no build step. */
(function () {
  "use strict";
  var PLAY_EVERY_MS = 600;
  var page = document.getElementById("replay");
  if (!page) return;
  var labels = JSON.parse(page.dataset.labels || "{}");
  var slider = document.getElementById("replay-time");
  var button = document.getElementById("replay-play");
  var clock = document.getElementById("replay-clock");
  var holder = document.getElementById("map");
  var map = holder && window.tisaMap ?
    window.tisaMap.create(holder, { labels: JSON.parse(holder.dataset.labels || "{}") }) : null;
  var data = null, timer = null, drawn = false;

  function el(tag, text) { var n = document.createElement(tag); if (text != null) n.textContent = text; return n; }
  function at(p) { return p.lat.toFixed(2) + ", " + p.lon.toFixed(2); }
  function utc(ms) { return new Date(ms).toISOString().slice(11, 19) + "Z"; }
  function since(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    var m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  }
  function iip(i) {
    if (!i) return "—";
    return at(i) + " ±" + (i.semi_major_m / 1000).toFixed(1) + "×" + (i.semi_minor_m / 1000).toFixed(1) +
      " km @" + Math.round(i.orientation_deg) + "°";
  }
  function ellipse(i) {
    return { semi_major_km: i.semi_major_m / 1000, semi_minor_km: i.semi_minor_m / 1000,
      orientation_deg: i.orientation_deg };
  }
  function point(role, where, originator, label, fused, impact) {
    var p = { role: role, lat: where.lat, lon: where.lon, originator: originator, fused: !!fused,
      sigma_km: null, label: label };
    if (impact) { p.ellipse = ellipse(impact); p.sigma_km = impact.semi_major_m / 1000; }
    return p;
  }
  function fill(id, rows) {
    var body = document.getElementById(id);
    body.replaceChildren.apply(body, rows.map(function (values) {
      var tr = el("tr");
      values.forEach(function (v) { tr.appendChild(el("td", v)); });
      return tr;
    }));
  }

  // Each nation track's updates up to `t`: the newest, and the positions so far.
  function nationsAt(t) {
    var byKey = {};
    data.updates.forEach(function (u) {
      if (u.time_ms > t) return;
      var key = u.originator + ":" + u.track_id;
      var held = byKey[key] || (byKey[key] = { latest: u, trail: [] });
      held.latest = u;
      held.trail.push([u.position.lat, u.position.lon]);
    });
    return Object.keys(byKey).sort().map(function (k) { return byKey[k]; });
  }

  function show(index) {
    var frame = data.frames[index];
    if (!frame) return;
    var t = frame.time_ms;
    var origin = data.launch_ms != null ? data.launch_ms : data.from_ms;
    var text = (data.launch_ms != null ? labels.sinceLaunch : labels.sinceStart)
      .replace("{time}", since(t - origin)) + " · " + utc(t);
    clock.textContent = text;
    slider.setAttribute("aria-valuetext", text);
    page.dataset.time = String(t);
    var nations = nationsAt(t);
    var points = [], trails = [];
    nations.forEach(function (n) {
      var u = n.latest, key = u.originator + ":" + u.track_id;
      points.push(point("missile", u.position, u.originator, u.label));
      if (u.launch_point) points.push(point("launch", u.launch_point, u.originator, u.label));
      if (u.impact) points.push(point("impact", u.impact, u.originator, u.label, false, u.impact));
      trails.push({ originator: u.originator, latlngs: n.trail, key: key });
    });
    frame.fused.forEach(function (f) {
      var label = f.id + " (" + f.nations.join(", ") + ")";
      points.push(point("missile", f.position, "FUSED", label, true));
      if (f.launch_point) points.push(point("launch", f.launch_point, "FUSED", label, true));
      if (f.impact) points.push(point("impact", f.impact, "FUSED", label, true, f.impact));
    });
    if (map) map.update({ map: { points: points, trails: trails } }, { fit: !drawn });
    drawn = drawn || points.length > 0;
    var mark = function (exercise, s) { return exercise ? labels.exercise + " " + s : s; };
    fill("replay-fused", frame.fused.map(function (f) {
      return [mark(f.exercise, f.id), f.nations.join(", "), f.phase,
        at(f.position) + " " + Math.round(f.position.alt_m / 1000) + " km", iip(f.impact),
        f.impact ? "T+" + since(f.impact.time_ms - origin) + " · " + utc(f.impact.time_ms) : "—"];
    }));
    fill("replay-nations", nations.map(function (n) {
      var u = n.latest;
      return [mark(u.exercise, u.originator + ":" + u.track_id), utc(u.time_ms), u.phase, u.status,
        at(u.position) + " " + Math.round(u.position.alt_m / 1000) + " km", iip(u.impact)];
    }));
  }

  function stop() {
    if (timer) clearInterval(timer);
    timer = null;
    button.textContent = labels.play;
    button.setAttribute("aria-pressed", "false");
  }
  function play() {
    if (Number(slider.value) >= Number(slider.max)) slider.value = "0";
    button.textContent = labels.pause;
    button.setAttribute("aria-pressed", "true");
    show(Number(slider.value));
    timer = setInterval(function () {
      if (Number(slider.value) >= Number(slider.max)) { stop(); return; }
      slider.value = String(Number(slider.value) + 1);
      show(Number(slider.value));
    }, PLAY_EVERY_MS);
  }

  slider.addEventListener("input", function () { show(Number(slider.value)); });
  button.addEventListener("click", function () { if (timer) stop(); else play(); });

  var query = page.dataset.event ? "event=" + encodeURIComponent(page.dataset.event) :
    "from_ms=" + encodeURIComponent(page.dataset.from) + "&to_ms=" + encodeURIComponent(page.dataset.to);
  fetch("/api/v1/tracks/replay?" + query, { credentials: "same-origin" }).then(function (r) {
    return r.json().then(function (body) { return { status: r.status, body: body }; });
  }).then(function (res) {
    var meta = document.getElementById("replay-meta");
    if (res.status !== 200) {
      meta.textContent = res.status === 404 ? labels.missing : (res.body.detail || String(res.status));
      return;
    }
    data = res.body;
    if (!data.frames.length) { meta.appendChild(el("span", " — " + labels.none)); return; }
    slider.max = String(data.frames.length - 1);
    slider.value = "0";
    slider.disabled = false;
    button.disabled = false;
    page.dataset.frames = String(data.frames.length);
    show(0);
  });
})();
