/* Events page: accepted and rejected events, filtered, refreshed every few seconds. */
(function () {
  "use strict";
  var app = window.ConsoleApp;
  var form = document.getElementById("filters");
  var REFRESH_MS = 3000;
  var timer = null;

  function errorsList(errors) {
    var ul = app.el("ul", undefined, "errors");
    (errors || []).forEach(function (text) {
      var li = app.el("li");
      var cut = text.indexOf(": ");
      if (cut > 0 && cut < 60) {
        li.appendChild(app.el("code", text.slice(0, cut)));
        li.appendChild(document.createTextNode(": " + text.slice(cut + 2)));
      } else li.textContent = text;
      ul.appendChild(li);
    });
    return ul;
  }

  function payload(text) {
    if (!text) return "–";
    var d = app.el("details");
    d.appendChild(app.el("summary", "show"));
    d.appendChild(app.el("pre", text));
    return d;
  }

  function tag(source) { return app.el("span", source, "tag " + source); }
  function types(t) { return (t || []).join(" + ") || "–"; }
  function target(_v, row) { return row.feature_id || row.query || row.query_id || "–"; }

  var REJECTED = [
    { key: "received_at", format: app.when },
    { key: "source", format: tag },
    { key: "errors", format: errorsList },
    { key: "types", format: types },
    { key: "user_id" },
    { key: "feature_id", format: target },
    { key: "where" },
    { key: "payload", format: payload },
  ];
  var ACCEPTED = [
    { key: "received_at", format: app.when },
    { key: "source", format: tag },
    { key: "types", format: types },
    { key: "user_id" },
    { key: "feature_id", format: target },
    { key: "position", num: true },
    { key: "retriever_id" },
    { key: "where" },
  ];

  function filters() {
    var v = app.formValues(form);
    return { user: v.user, feature: v.feature, type: v.type, source: v.source };
  }

  function refresh() {
    clearTimeout(timer);
    var params = filters();
    var rejected = app.get("rejected", params).then(function (data) {
      app.fill(document.getElementById("rejected"), data.items, REJECTED, "no rejected event matches");
      document.getElementById("rejected-count").textContent = "(" + data.matched + ")";
      return data.problems;
    });
    var accepted = app.get("events", params).then(function (data) {
      app.fill(document.getElementById("accepted"), data.items, ACCEPTED, "no accepted event matches");
      document.getElementById("accepted-count").textContent = "(" + data.matched + " in the latest messages)";
      var rates = Object.keys(data.rate.per_second).map(function (k) { return k + " " + data.rate.per_second[k] + "/s"; });
      document.getElementById("rate-summary").textContent = rates.length ? rates.join(" · ") : "no event in the last minute";
      PipelineCharts.eventRate(document.getElementById("chart-rate"), data.rate);
      return data.problems;
    });
    Promise.all([rejected, accepted]).then(function (problems) {
      var all = [].concat(problems[0] || [], problems[1] || []);
      app.say(all.join("; "), all.length > 0);
    }).catch(function () {}).then(function () {
      if (document.getElementById("f-live").checked && !document.hidden) timer = setTimeout(refresh, REFRESH_MS);
    });
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); refresh(); });
  form.addEventListener("reset", function () { setTimeout(refresh, 0); });
  document.getElementById("f-live").addEventListener("change", refresh);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  app.get("config").then(function (config) {
    var list = document.getElementById("type-list");
    config.types.concat(["search"]).forEach(function (t) { var o = document.createElement("option"); o.value = t; list.appendChild(o); });
  }).catch(function () {});
  refresh();
})();
