/* Events list and event page: rendered from the node's events API, refreshed live when a
   product arrives (a new report can change the fused figures). */
(function () {
  "use strict";
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function get(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (j) { return { status: r.status, body: j }; });
    });
  }
  function when(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z") : "—"; }
  var hedges = {};
  // "1 missile", "2 missiles": the page gives the catalog's plural forms (Babel's ngettext);
  // English counts one apart, Korean and Japanese have one form for every number.
  var missiles = null;
  var holder = document.getElementById("event");
  if (holder) hedges = JSON.parse(holder.dataset.hedges || "{}");
  if (holder && holder.dataset.missiles) missiles = JSON.parse(holder.dataset.missiles);
  var reports = holder && holder.dataset.reports ? JSON.parse(holder.dataset.reports) : null;
  function plural(forms, n) {
    if (!forms) return String(n);
    return (n === 1 ? forms.one : forms.other).replace("%(num)s", number(n));
  }
  // Figures are written here, in the reader's language; the original wording of a reported
  // time is kept beside it.
  function number(v) { return v.toLocaleString(document.documentElement.lang || undefined, { maximumFractionDigits: 2 }); }
  function fmt(fig) {
    if (!fig) return "—";
    if (fig.lat !== undefined && fig.lat !== null) {
      return fig.lat.toFixed(3) + "°, " + fig.lon.toFixed(3) + "°" +
        (typeof fig.sigma === "number" ? " ± " + number(fig.sigma) + " km" : "") +
        (fig.original ? " — " + fig.original : "");
    }
    if (typeof fig.value !== "number") return fig.text || "—";
    var unit = fig.unit && fig.unit !== "s" ? " " + fig.unit : "";
    function counted(v) {
      if (fig.unit !== "missiles" || !missiles) return number(v) + unit;
      return (v === 1 ? missiles.one : missiles.other).replace("%(num)s", number(v));
    }
    var text;
    if (fig.method === "bound only") {
      if (typeof fig.lower === "number" && typeof fig.upper === "number") {
        text = number(fig.lower) + "–" + counted(fig.upper);
      } else if (typeof fig.lower === "number") {
        text = (hedges.at_least || "≥ %(value)s").replace("%(value)s", counted(fig.lower));
      } else {
        text = (hedges.up_to || "≤ %(value)s").replace("%(value)s", counted(fig.upper));
      }
      return text;
    }
    text = fig.unit === "s" ? when(new Date(fig.value * 1000).toISOString()) : counted(fig.value);
    if (fig.qualifier && hedges[fig.qualifier]) text = hedges[fig.qualifier].replace("%(value)s", text);
    if (typeof fig.sigma === "number") text += " ± " + (fig.unit === "s" ? number(fig.sigma) + " s" : counted(fig.sigma));
    if (fig.original) text += " (" + fig.original + ")";
    return text;
  }

  var list = document.querySelector("[data-events-list]");
  function loadList() {
    get("/api/v1/events").then(function (res) {
      var body = list.querySelector("tbody");
      body.textContent = "";
      var events = (res.body && res.body.events) || [];
      if (!events.length) {
        var tr = el("tr"); tr.appendChild(el("td", { colspan: "6", "class": "empty" }, list.dataset.labelNone));
        body.appendChild(tr);
      }
      events.forEach(function (e) {
        var tr = el("tr", { "data-event": e.id });
        tr.appendChild(el("td", {}, when(e.time)));
        var cell = el("td"); cell.appendChild(el("a", { href: "/ui/events/" + e.id }, e.label)); tr.appendChild(cell);
        var kind = e.kind === "nuclear-test" ? list.dataset.labelNuclearTest : list.dataset.labelMissileLaunch;
        tr.appendChild(el("td", {}, kind + (e.count > 1 ? " ×" + e.count : "")));
        tr.appendChild(el("td", {}, e.parties.join(", ")));
        tr.appendChild(el("td", {}, String(e.reports)));
        tr.appendChild(el("td", { "class": e.disagreements ? "warn" : "" }, String(e.disagreements)));
        body.appendChild(tr);
      });
    });
  }
  // Each nation's systematic difference per quantity (shown, never applied).
  var offsets = document.querySelector("[data-offsets]");
  function loadOffsets() {
    get("/api/v1/offsets").then(function (res) {
      var body = offsets.querySelector("tbody");
      body.textContent = "";
      var found = (res.body && res.body.offsets) || [];
      if (!found.length) {
        var tr = el("tr");
        tr.appendChild(el("td", { colspan: "4", "class": "empty" },
          offsets.dataset.labelNone.replace("%(num)s", String((res.body && res.body.min_events) || 3))));
        body.appendChild(tr);
      }
      found.forEach(function (o) {
        var tr = el("tr", { "data-nation": o.originator, "data-quantity": o.quantity });
        tr.appendChild(el("td", {}, o.originator));
        tr.appendChild(el("td", {}, list.getAttribute("data-q-" + o.quantity) || o.quantity));
        var unit = o.unit === "s" ? " s" : " " + o.unit;
        var sign = o.offset > 0 ? "+" : "";
        var cell = el("td", { "class": o.significant ? "warn" : "" },
          sign + number(o.offset) + " ± " + number(o.sigma) + unit);
        if (o.significant) cell.appendChild(el("span", { "class": "tag warn" }, " " + offsets.dataset.labelSignificant));
        tr.appendChild(cell);
        tr.appendChild(el("td", {}, String(o.events)));
        body.appendChild(tr);
      });
    });
  }
  if (list) { loadList(); document.addEventListener("tisa:product", loadList); }
  if (offsets && list) { loadOffsets(); document.addEventListener("tisa:product", loadOffsets); }

  var page = document.getElementById("event");
  if (!page) return;
  var map = null;
  function label(q) { return page.getAttribute("data-q-" + q) || q; }

  function render(e) {
    document.getElementById("event-title").textContent = e.label;
    document.getElementById("event-meta").textContent =
      when(e.time) + " · " + (page.dataset.labelReportedBy || "%(parties)s").replace("%(parties)s", e.parties.join(", ")) +
      " · " + plural(reports, e.reports.length);
    var quantities = Object.keys(e.fused);
    e.reports.forEach(function (r) {
      Object.keys(r.figures).forEach(function (q) { if (quantities.indexOf(q) < 0) quantities.push(q); });
    });
    var table = document.getElementById("figures");
    var head = table.querySelector("thead"), body = table.querySelector("tbody");
    head.textContent = ""; body.textContent = "";
    var hr = el("tr"); hr.appendChild(el("th", { scope: "col" }, page.dataset.labelQuantity));
    e.reports.forEach(function (r) {
      var th = el("th", { scope: "col" });
      th.appendChild(el("a", { href: "/ui/products/" + r.product_id + "?version=" + r.version }, r.originator + " v" + r.version));
      hr.appendChild(th);
    });
    hr.appendChild(el("th", { scope: "col", "class": "fused" }, page.dataset.labelFused));
    head.appendChild(hr);
    quantities.forEach(function (q) {
      var tr = el("tr", { "data-quantity": q });
      tr.appendChild(el("th", { scope: "row" }, label(q)));
      e.reports.forEach(function (r) { tr.appendChild(el("td", {}, fmt(r.figures[q]))); });
      var fused = e.fused[q];
      var td = el("td", { "class": "fused" }, fmt(fused));
      // A ± the reporters never gave is the documented default: marked as such.
      if (fused && fused.assumed_sigma && typeof fused.sigma === "number") {
        var mark = el("span", { "class": "assumed", title: page.dataset.labelAssumed }, " *");
        mark.setAttribute("aria-label", page.dataset.labelAssumed);
        td.insertBefore(mark, td.childNodes[1] || null);
      }
      if (fused && fused.sources) {
        td.appendChild(el("div", { "class": "meta" }, page.dataset.labelSources + " " +
          fused.sources.map(function (s) { return s.originator + " v" + s.version; }).join(", ")));
      }
      // A value left out of the fusion is shown, struck through, with the reason.
      (fused && fused.left_out || []).forEach(function (o) {
        var out = el("div", { "class": "meta left-out" }, page.dataset.labelLeftOut + " ");
        out.appendChild(el("s", {}, o.source.originator + " v" + o.source.version + ": " + o.text));
        out.title = o.reason;
        td.appendChild(out);
      });
      tr.appendChild(td);
      body.appendChild(tr);
    });
    var flags = document.getElementById("disagreements");
    flags.textContent = "";
    e.disagreements.forEach(function (d) {
      flags.appendChild(el("li", { "class": "warn" }, "⚠ " + label(d.quantity) + ": " + (d.text ||
        (d.sources.map(function (s) { return s.originator; }).join(" / ") + " " + page.dataset.labelGap + " " + d.gap + " " + d.unit))));
    });
    if (!e.disagreements.length) flags.appendChild(el("li", { "class": "empty" }, page.dataset.labelAgree));
    var line = document.getElementById("timeline");
    line.textContent = "";
    e.reports.slice().sort(function (a, b) { return (a.received_at || a.created_at) < (b.received_at || b.created_at) ? -1 : 1; })
      .forEach(function (r) {
        var li = el("li");
        li.appendChild(el("span", { "class": "meta" }, when(r.received_at || r.created_at) + " "));
        li.appendChild(el("a", { href: "/ui/products/" + r.product_id + "?version=" + r.version }, r.originator + " v" + r.version + " — " + r.title));
        line.appendChild(li);
      });
    showTracks(e.tracks);
    if (window.tisaMap) {
      if (!map) {
        var m = document.getElementById("map");
        map = window.tisaMap.create(m, { labels: JSON.parse(m.dataset.labels || "{}") });
      }
      map.update(e);
    }
  }
  // A launch event's missile tracks: each fused track (nations, IIP with its ellipse) and the
  // nation tracks it rests on; the replay link. Hidden for other kinds of event.
  function showTracks(tracks) {
    var box = document.getElementById("event-tracks");
    if (!box) return;
    box.hidden = !tracks;
    if (!tracks) return;
    var body = box.querySelector("tbody");
    body.textContent = "";
    tracks.fused.forEach(function (f) {
      var tr = el("tr", { "data-fused": f.id });
      tr.appendChild(el("td", {}, (f.exercise ? box.dataset.labelExercise + " " : "") + f.id));
      tr.appendChild(el("td", {}, f.nations.join(", ")));
      var i = f.impact;
      tr.appendChild(el("td", {}, i ? i.lat.toFixed(2) + ", " + i.lon.toFixed(2) + " ±" +
        (i.semi_major_m / 1000).toFixed(1) + "×" + (i.semi_minor_m / 1000).toFixed(1) + " km @" +
        Math.round(i.orientation_deg) + "°" : "—"));
      body.appendChild(tr);
    });
    if (!tracks.fused.length) {
      var tr = el("tr"); tr.appendChild(el("td", { colspan: "3", "class": "empty" }, box.dataset.labelNone));
      body.appendChild(tr);
    }
    document.getElementById("event-nation-tracks").textContent =
      tracks.nations.map(function (n) { return n.key; }).join(", ");
    document.getElementById("event-replay").hidden = !tracks.nations.length;
  }
  function load() {
    get("/api/v1/events/" + encodeURIComponent(page.dataset.event)).then(function (res) {
      if (res.status !== 200) {
        document.getElementById("event-title").textContent = page.dataset.labelMissing;
        return;
      }
      render(res.body);
    });
  }
  load();
  document.addEventListener("tisa:product", load);
})();
