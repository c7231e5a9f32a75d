// Draws the dashboard's charts (`<canvas data-kpi-chart='…'>`) with Chart.js (vendored, loaded before
// this file). The page carries each chart's data as JSON in the attribute, its words already in the
// page's language, and a table that says the same for whoever cannot see the chart; no inline script
// (the Content-Security-Policy forbids it) and nothing fetched.
//
// The JSON: {kind: "sales" | "bars", locale, currency, labels: [...], bars: [{label, data, color}],
// line?: {label, data, color}, y, y2?}. "sales" stacks its bars (money, as decimal strings) and draws
// `line` (a rate, 0–1) against a percent axis on the right; "bars" puts its bars side by side.
(function () {
  "use strict";

  var INK = "#1b1f23";

  function numbers(values) {
    return values.map(function (v) {
      return v === null || v === undefined ? null : Number(v);
    });
  }

  function config(spec) {
    var sales = spec.kind === "sales";
    var money = new Intl.NumberFormat(spec.locale, {
      style: "currency",
      currency: spec.currency,
      notation: "compact",
      maximumFractionDigits: 1,
    });
    var plain = new Intl.NumberFormat(spec.locale);
    var percent = new Intl.NumberFormat(spec.locale, { style: "percent", maximumFractionDigits: 1 });
    var datasets = spec.bars.map(function (b) {
      return {
        type: "bar",
        label: b.label,
        data: numbers(b.data),
        backgroundColor: b.color,
        borderColor: b.color,
        borderWidth: 0,
        stack: sales ? "sales" : undefined,
        yAxisID: "y",
        order: 2,
      };
    });
    if (spec.line) {
      datasets.push({
        type: "line",
        label: spec.line.label,
        data: numbers(spec.line.data),
        borderColor: spec.line.color,
        backgroundColor: spec.line.color,
        borderWidth: 2,
        pointRadius: 2,
        tension: 0,
        spanGaps: true,
        yAxisID: "y2",
        order: 1,
      });
    }
    var scales = {
      x: { stacked: sales, ticks: { color: INK } },
      y: {
        stacked: sales,
        beginAtZero: true,
        title: { display: !!spec.y, text: spec.y, color: INK },
        ticks: {
          color: INK,
          precision: sales ? undefined : 0,
          callback: function (v) {
            return sales ? money.format(v) : plain.format(v);
          },
        },
      },
    };
    if (spec.line) {
      scales.y2 = {
        position: "right",
        min: 0,
        max: 1,
        grid: { drawOnChartArea: false },
        title: { display: !!spec.y2, text: spec.y2, color: INK },
        ticks: {
          color: INK,
          callback: function (v) {
            return percent.format(v);
          },
        },
      };
    }
    return {
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: datasets.length > 1, labels: { color: INK } },
          tooltip: {
            callbacks: {
              label: function (item) {
                var v = item.parsed.y;
                if (item.dataset.yAxisID === "y2") return item.dataset.label + ": " + percent.format(v);
                var shown = sales
                  ? new Intl.NumberFormat(spec.locale, { style: "currency", currency: spec.currency }).format(v)
                  : plain.format(v);
                return item.dataset.label + ": " + shown;
              },
            },
          },
        },
        scales: scales,
      },
    };
  }

  function draw(root) {
    if (typeof window.Chart !== "function") return;
    var canvases = (root || document).querySelectorAll("canvas[data-kpi-chart]");
    for (var i = 0; i < canvases.length; i++) {
      var canvas = canvases[i];
      if (canvas.dataset.drawn) continue;
      try {
        new window.Chart(canvas, config(JSON.parse(canvas.dataset.kpiChart)));
        canvas.dataset.drawn = "1";
      } catch (error) {
        // The table below the chart still says everything; leave the canvas empty.
        canvas.dataset.drawn = "failed";
      }
    }
  }

  // On a full page load, and on every page htmx swaps in (links and forms are boosted).
  document.addEventListener("DOMContentLoaded", function () {
    draw(document);
  });
  document.addEventListener("htmx:load", function (event) {
    draw(event.target);
  });
})();
