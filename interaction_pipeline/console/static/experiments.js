/* Experiments page: lift and offline A/B results, from the files they wrote. */
(function () {
  "use strict";
  var app = window.ConsoleApp;

  function pct(v) { return v === null || v === undefined ? "–" : (v > 0 ? "+" : "") + v.toFixed(2) + "%"; }

  app.get("experiments").then(function (data) {
    document.getElementById("root").textContent = data.root;
    var lift = data.lift;
    var box = document.getElementById("lift-chart-box");
    if (lift.report) {
      document.getElementById("lift-summary").textContent = "latest run: " + lift.report.path;
      PipelineCharts.lift(document.getElementById("chart-lift"), lift.report.splits);
      app.fill(document.getElementById("lift"), lift.report.splits, [
        { key: "split" }, { key: "variant" }, { key: "base_ndcg", label: "base nDCG@10", num: true },
        { key: "tuned_ndcg", label: "tuned nDCG@10", num: true }, { key: "lift_pct", label: "lift", format: pct, num: true },
        { key: "ci_low", label: "95% low", format: pct, num: true }, { key: "ci_high", label: "95% high", format: pct, num: true },
      ]);
    } else {
      box.hidden = true;
      document.getElementById("lift-summary").textContent = "No results yet: run `interactions lift` (make demo runs a short one).";
      document.getElementById("lift").hidden = true;
    }
    if (lift.history.length) app.fill(document.getElementById("lift-history"), lift.history);
    else document.getElementById("lift-history").hidden = true;
    var ab = data.offline_ab;
    if (ab.result) {
      document.getElementById("ab-summary").textContent = "latest result: " + ab.result.path;
      app.fill(document.getElementById("ab"), ab.result.figures, [{ key: "name" }, { key: "value", format: function (v) { return Array.isArray(v) ? v.join(", ") : app.num(v); } }]);
    } else {
      document.getElementById("ab-summary").textContent = "No results yet: no offline A/B result file was found.";
      document.getElementById("ab").hidden = true;
    }
    if (ab.history.length) app.fill(document.getElementById("ab-history"), ab.history);
    else document.getElementById("ab-history").hidden = true;
    var problems = lift.problems.concat(ab.problems);
    app.say(problems.join("; "), problems.length > 0);
    document.body.dataset.loaded = "true";
  }).catch(function () {});
})();
