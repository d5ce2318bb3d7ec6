/* Compose, amend and edit: the form becomes the API's draft JSON; every change is checked by
   the node (scope, markings, REL TO, ceilings) before anything is saved; uploads show progress
   and what scrubbing removed. */
(function () {
  "use strict";
  var form = document.getElementById("compose");
  if (!form) return;
  var csrf = window.tisa.csrf;
  var problems = document.getElementById("problems");
  var ok = document.getElementById("check-ok");
  var uploads = document.getElementById("uploads");

  // Field names repeat in each observation's fieldset: every lookup is within a root.
  function field(name, root) { return (root || form).querySelector('[name="' + name + '"]'); }
  function value(name, root) { var f = field(name, root); return f ? f.value.trim() : ""; }
  function number(name, root) { var v = value(name, root); return v === "" ? null : Number(v); }

  function estimate(prefix, root) {
    var v = number(prefix + ".value", root);
    if (v === null) return undefined;
    var out = { value: v, qualifier: value(prefix + ".qualifier", root) || "about" };
    var s = number(prefix + ".sigma", root);
    if (s !== null) out.sigma = s;
    return out;
  }
  function instant(prefix, root) {
    var original = value(prefix + ".original", root);
    if (!original) return undefined;
    var out = { original: original, qualifier: value(prefix + ".qualifier", root) || "about" };
    var s = number(prefix + ".sigma_s", root);
    if (s !== null) out.sigma_s = s;
    return out;
  }
  function position(prefix, root) {
    var lat = number(prefix + ".lat", root), lon = number(prefix + ".lon", root);
    if (lat === null && lon === null) return undefined;
    var out = { lat: lat, lon: lon };
    var s = number(prefix + ".sigma_km", root);
    if (s !== null) out.sigma_km = s;
    var d = value(prefix + ".description", root);
    if (d) out.description = d;
    return out;
  }
  function bool(name, root) { var v = value(name, root); return v === "" ? undefined : v === "true"; }
  function checked(name) {
    return Array.prototype.filter.call(form.querySelectorAll('input[name="' + name + '"]'),
      function (i) { return i.checked; }).map(function (i) { return i.value; });
  }
  function clean(obj) {
    Object.keys(obj).forEach(function (k) { if (obj[k] === undefined) delete obj[k]; });
    return obj;
  }

  function observation(root) {
    var kind = value("kind", root);
    if (kind === "missile-launch") {
      return clean({
        kind: kind, time: instant("launch.time", root),
        missile_class: value("launch.missile_class", root),
        launch_position: position("launch.launch_position", root),
        count: estimate("launch.count", root),
        apogee_km: estimate("launch.apogee_km", root), range_km: estimate("launch.range_km", root),
        flight_time_min: estimate("launch.flight_time_min", root),
        impact_time: instant("launch.impact_time", root),
        impact_position: position("launch.impact_position", root),
        inside_eez: bool("launch.inside_eez", root), lofted: bool("launch.lofted", root)
      });
    }
    if (kind === "nuclear-test") {
      return clean({
        kind: kind, time: instant("test.time", root), position: position("test.position", root),
        magnitude: estimate("test.magnitude", root), yield_kt: estimate("test.yield_kt", root)
      });
    }
    return null;
  }
  var list = document.getElementById("observations");
  function observations() {
    return Array.prototype.map.call(list.querySelectorAll("fieldset.observation"), observation)
      .filter(function (o) { return o !== null; });
  }

  function draft() {
    return {
      title: value("title"), text: field("text").value,
      classification: value("classification"), rel_to: checked("rel_to"),
      orcon: field("orcon").checked, precedence: value("precedence"),
      topics: checked("topics"), source_reliability: value("source_reliability"),
      information_credibility: value("information_credibility"),
      observations: observations(),
      attachments: Array.prototype.map.call(uploads.querySelectorAll("li[data-digest]"),
        function (li) { return li.dataset.digest; })
    };
  }

  function api(method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return { status: r.status, body: j }; });
    });
  }

  function show(list) {
    problems.textContent = "";
    list.forEach(function (p) {
      var li = document.createElement("li");
      li.className = "error";
      li.textContent = p;
      problems.appendChild(li);
    });
    ok.hidden = list.length !== 0;
  }

  var timer = null, seq = 0;
  function check() {
    var mine = ++seq;
    api("POST", "/api/v1/products/check", draft()).then(function (res) {
      if (mine !== seq) return;  // a newer check is on its way
      if (res.status === 200) show(res.body.problems || []);
      else show([res.body.detail || ("HTTP " + res.status)].concat(res.body.reasons || []));
    });
  }
  function soon() { clearTimeout(timer); timer = setTimeout(check, 300); }
  // The page banners state the draft's marking as the form has it now (the server drew them
  // from the same choices); US banner syntax: TERM//ORCON/REL TO USA, then the rest A-Z.
  var levels = JSON.parse(form.dataset.levels || "{}");
  function markBanners() {
    var level = levels[value("classification")];
    if (!level) return;
    var rel = checked("rel_to").sort(function (a, b) {
      if ((a === "USA") !== (b === "USA")) return a === "USA" ? -1 : 1;
      return a < b ? -1 : a > b ? 1 : 0;
    });
    var controls = field("orcon").checked ? ["ORCON"] : [];
    if (rel.length) controls.push("REL TO " + rel.join(", "));
    var text = controls.length ? level.term + "//" + controls.join("/") : level.term;
    ["banner-top", "banner-bottom"].forEach(function (id) {
      var banner = document.getElementById(id);
      if (!banner) return;
      banner.querySelector("[data-banner-text]").textContent = text;
      Object.keys(levels).forEach(function (k) { banner.classList.remove(levels[k].style); });
      banner.classList.add(level.style);
    });
  }
  form.addEventListener("change", markBanners);
  form.addEventListener("input", soon);
  form.addEventListener("change", soon);

  // Each observation shows the fields of its kind; observations can be added and removed.
  function showKind(fieldset) {
    var kind = value("kind", fieldset);
    fieldset.querySelectorAll("[data-kind]").forEach(function (div) {
      div.hidden = div.dataset.kind !== kind;
    });
  }
  list.querySelectorAll("fieldset.observation").forEach(showKind);
  list.addEventListener("change", function (e) {
    if (e.target.name === "kind") showKind(e.target.closest("fieldset.observation"));
  });
  list.addEventListener("click", function (e) {
    if (e.target.matches("[data-remove-observation]")) {
      e.target.closest("fieldset.observation").remove();
      soon();
    }
  });
  document.getElementById("add-observation").addEventListener("click", function () {
    var copy = document.getElementById("observation-template").content.firstElementChild.cloneNode(true);
    list.appendChild(copy);
    showKind(copy);
    copy.querySelector('[name="kind"]').focus();
  });

  uploads.addEventListener("click", function (e) {
    if (e.target.matches("[data-remove]")) { e.target.closest("li").remove(); soon(); }
  });

  var file = document.getElementById("file");
  var bar = document.getElementById("upload-progress");
  file.addEventListener("change", function () {
    var chosen = file.files[0];
    if (!chosen) return;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/uploads?name=" + encodeURIComponent(chosen.name));
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    if (chosen.type) xhr.setRequestHeader("Content-Type", chosen.type);
    bar.hidden = false; bar.value = 0;
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total);
    };
    xhr.onload = function () {
      var res = {};
      try { res = JSON.parse(xhr.responseText); } catch (err) { res = {}; }
      bar.hidden = true; file.value = "";
      if (xhr.status !== 201) { show([chosen.name + ": " + (res.detail || "HTTP " + xhr.status)]); return; }
      var li = document.createElement("li");
      li.dataset.digest = res.digest;
      li.appendChild(document.createTextNode(res.name + " "));
      var meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = res.kind + " · " + res.media_type + " · " + res.size.toLocaleString();
      li.appendChild(meta);
      var scrub = document.createElement("div");
      scrub.className = "scrub";
      scrub.textContent = uploads.dataset.labelRemoved + " " +
        (res.removed.length ? res.removed.join(", ") : uploads.dataset.labelNothing);
      li.appendChild(scrub);
      var remove = document.createElement("button");
      remove.type = "button"; remove.className = "link"; remove.dataset.remove = "";
      remove.textContent = uploads.dataset.labelRemove;
      li.appendChild(remove);
      uploads.appendChild(li);
      soon();
    };
    xhr.onerror = function () { bar.hidden = true; show([chosen.name + ": upload failed"]); };
    xhr.send(chosen);
  });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var save = document.getElementById("save");
    save.disabled = true;
    api(form.dataset.method, form.dataset.target, draft()).then(function (res) {
      save.disabled = false;
      if (res.status === 201 || res.status === 200) {
        location.href = "/ui/products/" + res.body.id + "?version=" + res.body.version;
      } else {
        show([res.body.detail || ("HTTP " + res.status)].concat(res.body.reasons || []));
      }
    });
  });

  check();
})();
