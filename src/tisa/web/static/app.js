/* tisa UI: live alerts over server-sent events, live refresh of the open page, small helpers.
   No framework and no build step: the node serves this file as written. */
(function () {
  "use strict";
  var body = document.body;
  var csrf = body.dataset.csrf || "";

  // Language select submits on change (a button stays for no-script use).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // Sound alerts are the user's choice, remembered in this browser.
  var toggle = document.getElementById("sound-toggle");
  if (toggle) {
    toggle.checked = localStorage.getItem("tisa.sound") === "on";
    toggle.addEventListener("change", function () {
      localStorage.setItem("tisa.sound", toggle.checked ? "on" : "off");
    });
  }

  function beep() {
    if (localStorage.getItem("tisa.sound") !== "on") return;
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx();
      [0, 0.25].forEach(function (start) {
        var osc = ctx.createOscillator();
        var gain = ctx.createGain();
        osc.frequency.value = 880;
        gain.gain.value = 0.15;
        osc.connect(gain); gain.connect(ctx.destination);
        osc.start(ctx.currentTime + start);
        osc.stop(ctx.currentTime + start + 0.15);
      });
    } catch (e) { /* no audio device: the visual alert stands */ }
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function alertFlash(msg) {
    var box = document.getElementById("alerts");
    var item = el("div", { "class": "flash-alert", "data-product": msg.id });
    item.appendChild(el("strong", {}, body.dataset.flashLabel + " · " + msg.originator));
    item.appendChild(el("span", { "class": "banner-inline" }, msg.banner));
    var link = el("a", { href: msg.url }, msg.title);
    item.appendChild(link);
    var close = el("button", { type: "button", "class": "link" }, body.dataset.dismissLabel);
    close.addEventListener("click", function () { item.remove(); });
    item.appendChild(close);
    box.prepend(item);
    beep();
  }

  // Missile warnings: one alert per warned track, with a countdown to the predicted impact;
  // taken down when the warning is withdrawn or ended.
  function warningKey(track, exercise) { return (exercise ? "exercise:" : "live:") + track; }

  function countdown(item) {
    var out = item.querySelector("[data-countdown]");
    if (!out) return;
    var left = Math.round((Number(item.dataset.impactMs) - Date.now()) / 1000);
    if (left < 0) { out.textContent = body.dataset.impactedLabel; return; }
    var m = Math.floor(left / 60), s = left % 60;
    out.textContent = body.dataset.impactLabel + " " + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function missileWarning(msg) {
    var key = warningKey(msg.track, msg.exercise);
    document.querySelectorAll("#alerts .missile-warning").forEach(function (old) {
      if (warningKey(old.dataset.track, old.dataset.exercise === "yes") === key) old.remove();
    });
    if (msg.action !== "warning.raise") return;
    var box = document.getElementById("alerts");
    var item = el("div", {
      "class": "missile-warning" + (msg.exercise ? " exercise" : ""),
      "data-track": msg.track, "data-exercise": msg.exercise ? "yes" : "no",
      "data-impact-ms": String(msg.impact.time_ms)
    });
    var title = body.dataset.warningLabel;
    item.appendChild(el("strong", {}, msg.exercise ? body.dataset.exerciseLabel + " · " + title : title));
    item.appendChild(el("span", {}, msg.areas.join(", ")));
    item.appendChild(el("span", { "class": "countdown", "data-countdown": "" }));
    item.appendChild(el("span", { "class": "banner-inline" }, msg.label));
    box.prepend(item);
    countdown(item);
    beep();
  }

  setInterval(function () {
    document.querySelectorAll("#alerts .missile-warning").forEach(countdown);
  }, 1000);
  document.querySelectorAll("#alerts .missile-warning").forEach(countdown);

  function notice(msg) {
    var box = document.getElementById("notices");
    var item = el("div", { "class": "notice" });
    item.appendChild(el("span", {}, body.dataset.newLabel + " · " + msg.originator + " · "));
    item.appendChild(el("a", { href: msg.url }, msg.title));
    box.prepend(item);
    setTimeout(function () { item.remove(); }, 15000);
    while (box.children.length > 3) box.lastChild.remove();
  }

  // Re-render the live part of the open page from the server (same filters, same language).
  var refreshing = false, again = false;
  function refresh() {
    var part = document.querySelector("[data-live-refresh], [data-live-banner]");
    if (!part) return;
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live-refresh]").forEach(function (old) {
          var key = old.getAttribute("data-live-refresh");
          var fresh = doc.querySelector('[data-live-refresh="' + key + '"]');
          if (fresh) old.replaceWith(document.importNode(fresh, true));
        });
        // The page banners follow what the page now shows (a SECRET row arriving).
        document.querySelectorAll("[data-live-banner]").forEach(function (old) {
          var fresh = doc.getElementById(old.id);
          if (fresh) old.replaceWith(document.importNode(fresh, true));
        });
        document.dispatchEvent(new CustomEvent("tisa:refreshed"));
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }

  if (body.dataset.signedIn === "yes" && window.EventSource) {
    // From where this page's data stands: nothing between render and stream is lost; on a
    // reconnect the browser sends the last id it saw (Last-Event-ID) and resumes there.
    var after = body.dataset.liveAfter;
    var source = new EventSource(after ? "/ui/live?after=" + encodeURIComponent(after) : "/ui/live");
    source.addEventListener("product", function (e) {
      var msg = JSON.parse(e.data);
      var arrived = msg.action === "product.receive" || msg.action === "product.release";
      if (arrived && msg.precedence === "FLASH" && msg.state !== "draft") alertFlash(msg);
      else if (msg.action === "product.receive") notice(msg);
      document.dispatchEvent(new CustomEvent("tisa:product", { detail: msg }));
      var part = document.querySelector("[data-live-refresh]");
      if (!part) {
        // A page drawn by its script (events): its banner still follows what arrives.
        if (document.querySelector("[data-live-banner]")) refresh();
        return;
      }
      var here = part.getAttribute("data-product");
      if (!here || here === msg.id) refresh();
    });
    source.addEventListener("warning", function (e) { missileWarning(JSON.parse(e.data)); });
    source.addEventListener("consent", function () {
      var part = document.querySelector('[data-live-refresh="consents"]');
      if (part) refresh();
    });
  }

  // Escape dismisses the newest alert (keyboard users).
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") {
      var first = document.querySelector("#alerts .flash-alert");
      if (first) first.remove();
    }
  });

  window.tisa = { csrf: csrf, refresh: refresh };
})();
