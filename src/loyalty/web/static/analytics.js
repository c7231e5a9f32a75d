// Draws every `<canvas data-chart='…'>` of a console page with Chart.js (vendored, loaded before
// this file). The page carries each chart's data as JSON in the attribute, with its words already
// in the page's language, and a table that says the same for whoever cannot see the chart: no inline
// script (the Content-Security-Policy forbids it) and no data fetched separately.
//
// The JSON: {kind: "bar" | "line", title, labels: [...], series: [{label, data: [...], color}],
// x: axis title, y: axis title, marker?: {index, label}}; `marker` draws a dashed vertical line
// at that label (the calibration end of the model's check).
(function () {
  "use strict";

  var markerPlugin = {
    id: "loyaltyMarker",
    afterDatasetsDraw: function (chart, _args, options) {
      if (!options || options.index === undefined || options.index === null) return;
      var x = chart.scales.x.getPixelForValue(options.index);
      var area = chart.chartArea;
      var ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "#4a5560";
      ctx.setLineDash([4, 4]);
      ctx.beginPath();
      ctx.moveTo(x, area.top);
      ctx.lineTo(x, area.bottom);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#1b1f23";
      ctx.textAlign = "left";
      ctx.fillText(options.label || "", x + 4, area.top + 12);
      ctx.restore();
    },
  };

  function config(spec) {
    var line = spec.kind === "line";
    return {
      type: line ? "line" : "bar",
      data: {
        labels: spec.labels,
        datasets: spec.series.map(function (s) {
          return {
            label: s.label,
            data: s.data,
            backgroundColor: s.color,
            borderColor: s.color,
            borderWidth: line ? 2 : 0,
            pointRadius: 0,
            tension: 0,
          };
        }),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: spec.series.length > 1, labels: { color: "#1b1f23" } },
          loyaltyMarker: spec.marker || {},
        },
        scales: {
          x: { title: { display: !!spec.x, text: spec.x, color: "#1b1f23" }, ticks: { color: "#1b1f23" } },
          y: {
            beginAtZero: true,
            title: { display: !!spec.y, text: spec.y, color: "#1b1f23" },
            ticks: { color: "#1b1f23" },
          },
        },
      },
      plugins: [markerPlugin],
    };
  }

  function draw(root) {
    if (typeof window.Chart !== "function") return;
    var canvases = (root || document).querySelectorAll("canvas[data-chart]");
    for (var i = 0; i < canvases.length; i++) {
      var canvas = canvases[i];
      if (canvas.dataset.drawn) continue;
      try {
        new window.Chart(canvas, config(JSON.parse(canvas.dataset.chart)));
        canvas.dataset.drawn = "1";
      } catch (e) {
        canvas.dataset.drawn = "failed"; // the table beside it still says it all
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  // a page or fragment swapped in by htmx (hx-boost navigation included)
  document.addEventListener("htmx:load", function (event) { draw(event.target); });
})();
