/* Popularity page: trending by type and window, and a boost preview for pasted candidates. */
(function () {
  "use strict";
  var app = window.ConsoleApp;
  var trendingForm = document.getElementById("trending-form");
  var boostForm = document.getElementById("boost-form");

  function windows(select, days, chosen) {
    days.forEach(function (d) { select.appendChild(new Option(d + (d === 1 ? " day" : " days"), String(d))); });
    select.value = String(chosen);
  }

  function trending() {
    var v = app.formValues(trendingForm);
    app.get("trending", { type: v.type, window: v.window, n: v.n }).then(function (data) {
      var label = (data.interaction_type || "weighted score") + ", last " + data.window_days + " days";
      document.getElementById("trending-caption").textContent = "Top documents by " + label;
      PipelineCharts.trending(document.getElementById("chart-trending"), data.items, label);
      app.fill(document.getElementById("trending"), data.items, [
        { key: "rank", num: true }, { key: "feature_id" }, { key: "score", num: true },
      ], "nothing counted in this window yet");
    }).catch(function () {});
  }

  function boost() {
    var v = app.formValues(boostForm);
    app.get("boost", { candidates: v.candidates, types: v.types, window: v.window, multiplier: v.multiplier }).then(function (data) {
      app.say("");
      app.fill(document.getElementById("boost"), data.candidates, [
        { key: "rank", num: true }, { key: "was", num: true }, { key: "feature_id" },
        { key: "score", num: true }, { key: "boosted_score", num: true }, { key: "multiplier", num: true },
        { key: "weighted_count", num: true },
        { key: "counts", format: function (c) { return Object.keys(c).map(function (k) { return k + " " + c[k]; }).join(", ") || "–"; } },
      ]);
    }).catch(function () {});
  }

  trendingForm.addEventListener("submit", function (event) { event.preventDefault(); trending(); });
  boostForm.addEventListener("submit", function (event) { event.preventDefault(); boost(); });
  app.get("config").then(function (config) {
    var type = document.getElementById("t-type");
    config.types.forEach(function (t) { type.appendChild(new Option(t, t)); });
    windows(document.getElementById("t-window"), config.windows_days, config.default_window_days);
    windows(document.getElementById("b-window"), config.windows_days, config.default_window_days);
    trending();
  }).catch(function () {});
})();
