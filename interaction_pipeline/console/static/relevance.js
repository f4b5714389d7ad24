/* Relevance page: the report and the bias estimate for a date range and retriever. */
(function () {
  "use strict";
  var app = window.ConsoleApp;
  var form = document.getElementById("controls");
  var select = document.getElementById("r-retriever");

  function change(v) { return v === null || v === undefined ? "–" : (v > 0 ? "+" : "") + (v * 100).toFixed(1) + "%"; }
  function flag(v) { return v ? app.el("span", "regressed", "tag flag-bad") : ""; }

  function regressions(box, items) {
    box.replaceChildren();
    var div = app.el("div", undefined, items.length ? "alert" : "ok");
    div.appendChild(app.el("strong", items.length ? items.length + " regression(s) week over week" : "No regression flagged week over week"));
    if (items.length) {
      var ul = app.el("ul");
      items.forEach(function (c) {
        ul.appendChild(app.el("li", c.metric + ": " + app.num(c.previous) + " → " + app.num(c.current) + " (" + change(c.change) + ", " + c.better + " is better)"));
      });
      div.appendChild(ul);
    }
    box.appendChild(div);
  }

  function retrievers(ids, chosen) {
    var keep = select.value;
    select.replaceChildren(new Option("all retrievers", ""));
    ids.forEach(function (id) { select.appendChild(new Option(id, id)); });
    select.value = chosen || keep || "";
  }

  function show(view) {
    var range = view.date_range.start.slice(0, 16).replace("T", " ") + " .. " + view.date_range.end.slice(0, 16).replace("T", " ") + " UTC";
    document.getElementById("wow-caption").textContent =
      "Headline metrics: " + view.week_over_week.previous_volume + " → " + view.week_over_week.current_volume +
      (view.has_search_events ? " searches" : " clicks") + " (the last 7 days of " + range + " against the 7 before); regressions first";
    regressions(document.getElementById("regressions"), view.regressions);
    app.fill(document.getElementById("wow"), view.week_over_week.changes, [
      { key: "metric" }, { key: "better" }, { key: "previous", num: true }, { key: "current", num: true },
      { key: "change", format: change, num: true }, { key: "regressed", format: flag },
    ]);
    var ctrLabel = view.ctr_source === "impressions" ? "CTR" : "CTR proxy";
    document.getElementById("ctr-source").textContent = view.ctr_source === "impressions"
      ? "clicks / impressions, " + range
      : "no search events: clicks / (clicks + skips), " + range;
    PipelineCharts.ctrByPosition(document.getElementById("chart-ctr"), view.ctr_by_position, ctrLabel);
    var exam = view.examination || { position: [], estimated: [], prior: [] };
    document.getElementById("bias-summary").textContent = view.examination
      ? "position-based click model fitted by EM; positions with too little data use the prior " + exam.prior_label
      : "no estimate for this range";
    PipelineCharts.examination(document.getElementById("chart-bias"), exam);
    app.fill(document.getElementById("skipped"), view.skipped_top_results, null, "no top result is skipped unusually often");
    app.fill(document.getElementById("lowctr"), view.low_ctr_queries, null,
      view.low_ctr_queries === null ? "needs search events" : "no low-CTR query");
    app.fill(document.getElementById("zero"), view.zero_result_queries, null,
      view.zero_result_queries === null ? "needs search events" : "no zero-result query");
    var notes = document.getElementById("notes");
    notes.replaceChildren();
    view.notes.concat(view.examination ? view.examination.notes : []).forEach(function (n) { notes.appendChild(app.el("li", n)); });
    if (!notes.children.length) notes.appendChild(app.el("li", "none"));
    retrievers(view.retrievers, view.retriever);
  }

  function load() {
    var v = app.formValues(form);
    app.say("computing the report…");
    app.get("relevance", { range: v.range, retriever: v.retriever }).then(function (view) {
      app.say("");
      show(view);
      document.body.dataset.loaded = "true";
    }).catch(function () {});
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
  load();
})();
