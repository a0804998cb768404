// Live updates of the overview without reloading: poll /api/overview and refresh the figures.
// Text is set with textContent only, never as HTML.
(function () {
  "use strict";
  var level = document.getElementById("level");
  if (!level) { return; }
  var lang = document.documentElement.lang;
  function refresh() {
    fetch("/api/overview", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (o) {
        if (!o) { return; }
        var label = document.getElementById("level-label");
        label.textContent = lang === "ja" ? o.estimate.label_ja : o.estimate.label_en;
        document.getElementById("confidence").textContent = Math.round(o.estimate.confidence * 100);
        document.querySelectorAll("[data-sev]").forEach(function (el) {
          var n = o.open[el.getAttribute("data-sev")];
          if (n !== undefined) { el.textContent = n; }
        });
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }
  setInterval(refresh, 15000);
})();
