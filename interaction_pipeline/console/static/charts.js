/* Chart builders shared by the console pages and the HTML report (Chart.js, vendored).
 * Each builder draws into a <canvas>, or updates the chart already there, and records on the
 * canvas how many points it drew (data-points) and how many series (data-series), so tests
 * and people can check a chart against its data. No animation: what is drawn is final. */
(function () {
  "use strict";
  var PALETTE = ["#1f5fbf", "#d9730d", "#1e7a3a", "#8e3bb3", "#b3261e", "#00838f", "#6d4c41", "#5b6575"];

  function count(chart) {
    var points = 0;
    chart.data.datasets.forEach(function (_d, i) {
      if (chart.isDatasetVisible(i)) points += chart.getDatasetMeta(i).data.length;
    });
    chart.canvas.dataset.points = String(points);
    chart.canvas.dataset.series = String(chart.data.datasets.length);
    return chart;
  }

  function draw(canvas, config) {
    var existing = Chart.getChart(canvas);
    if (existing) {
      existing.data = config.data;
      existing.options = config.options;
      existing.update("none");
      return count(existing);
    }
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options);
    return count(new Chart(canvas, config));
  }

  function axis(title, extra) {
    return Object.assign({ title: { display: true, text: title }, grid: { color: "#e6e9ee" } }, extra || {});
  }

  function percent(v) { return (v * 100).toFixed(v < 0.1 ? 1 : 0) + "%"; }

  window.PipelineCharts = {
    palette: PALETTE,

    /* CTR (or its proxy) per position: one bar per position. */
    ctrByPosition: function (canvas, ctr, label) {
      return draw(canvas, {
        type: "bar",
        data: {
          labels: ctr.position,
          datasets: [{ label: label || "CTR", data: ctr.ctr, backgroundColor: PALETTE[0] }],
        },
        options: {
          plugins: { legend: { display: false }, tooltip: { callbacks: { label: function (c) { return percent(c.parsed.y); } } } },
          scales: { x: axis("position (0 = top)"), y: axis("click-through rate", { beginAtZero: true, ticks: { callback: percent } }) },
        },
      });
    },

    /* Estimated examination propensity per position beside the prior: two lines. */
    examination: function (canvas, exam) {
      return draw(canvas, {
        type: "line",
        data: {
          labels: exam.position,
          datasets: [
            { label: "estimated (EM)", data: exam.estimated, borderColor: PALETTE[0], backgroundColor: PALETTE[0], pointRadius: 4, pointStyle: "circle" },
            { label: "prior " + (exam.prior_label || ""), data: exam.prior, borderColor: PALETTE[1], backgroundColor: PALETTE[1], borderDash: [6, 4], pointRadius: 3, pointStyle: "rectRot" },
          ],
        },
        options: {
          plugins: { legend: { position: "bottom" } },
          scales: { x: axis("position (0 = top)"), y: axis("examination, relative to position 0", { beginAtZero: true, suggestedMax: 1 }) },
        },
      });
    },

    /* Events per second per type: one line per type over the last minute. */
    eventRate: function (canvas, rate) {
      var names = Object.keys(rate.series);
      return draw(canvas, {
        type: "line",
        data: {
          labels: rate.labels,
          datasets: names.map(function (name, i) {
            var color = PALETTE[i % PALETTE.length];
            return { label: name, data: rate.series[name], borderColor: color, backgroundColor: color, pointRadius: 2 };
          }),
        },
        options: {
          plugins: { legend: { position: "bottom" } },
          scales: { x: axis("seconds ago"), y: axis("events / s", { beginAtZero: true }) },
        },
      });
    },

    /* Trending documents: one horizontal bar each. */
    trending: function (canvas, items, label) {
      return draw(canvas, {
        type: "bar",
        data: {
          labels: items.map(function (i) { return i.feature_id; }),
          datasets: [{ label: label || "score", data: items.map(function (i) { return i.score; }), backgroundColor: PALETTE[2] }],
        },
        options: {
          indexAxis: "y",
          plugins: { legend: { display: false } },
          scales: { x: axis(label || "score", { beginAtZero: true }), y: { ticks: { autoSkip: false } } },
        },
      });
    },

    /* Lift (%) per split and variant, with the interval's ends as a second and third series. */
    lift: function (canvas, rows) {
      var labels = rows.map(function (r) { return r.variant === "full" ? r.split : r.split + " (" + r.variant + ")"; });
      return draw(canvas, {
        type: "bar",
        data: {
          labels: labels,
          datasets: [
            { label: "lift %", data: rows.map(function (r) { return r.lift_pct; }), backgroundColor: rows.map(function (r) { return r.lift_pct >= 0 ? PALETTE[2] : PALETTE[4]; }) },
            { type: "line", label: "95% interval, low", data: rows.map(function (r) { return r.ci_low; }), showLine: false, pointStyle: "line", pointRadius: 10, borderColor: PALETTE[7] },
            { type: "line", label: "95% interval, high", data: rows.map(function (r) { return r.ci_high; }), showLine: false, pointStyle: "line", pointRadius: 10, borderColor: PALETTE[7] },
          ],
        },
        options: {
          plugins: { legend: { position: "bottom" } },
          scales: { x: axis("split"), y: axis("nDCG@10 lift, %") },
        },
      });
    },
  };
})();
