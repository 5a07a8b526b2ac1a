// distweb — the manager dashboard's trend charts (Apache ECharts, vendored). Loaded only by the
// dashboard pages (app.js loadPageScripts). Each [data-dashboard-charts] box names its JSON
// (data-src) and its translated labels (data-labels); no inline script or style anywhere.
(function () {
  "use strict";

  var charts = [];

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function yuan(fen) { return fen / 100; }  // for plotting only; every figure shown is formatted by the server

  function tooltip(lines) {
    // A formatter of our own: ECharts' default one writes style="" attributes, which the CSP refuses.
    return lines.map(function (line) {
      return escapeHtml(line[0]) + ": <b>" + escapeHtml(line[1]) + "</b>";
    }).join("<br>");
  }

  function base(labels, data, categories) {
    return {
      animation: false,
      grid: { left: 56, right: 48, top: 36, bottom: 28 },
      legend: { top: 0 },
      tooltip: { trigger: "axis", className: "dash-chart-tip" },
      xAxis: { type: "category", data: categories, axisLabel: { hideOverlap: true } }
    };
  }

  function draw(box, data, labels) {
    if (!window.echarts) return;
    var buckets = data.buckets;
    var categories = buckets.map(function (b) { return b.start.slice(5); });
    function title(i) {
      return data.unit === "week" ? labels.week_of.replace("{day}", buckets[i].start) : buckets[i].start;
    }
    var specs = {
      sales: function () {
        var option = base(labels, data, categories);
        option.yAxis = [{ type: "value" }, { type: "value", minInterval: 1 }];
        option.series = [
          { name: labels.gmv, type: "bar", data: buckets.map(function (b) { return yuan(b.gmv_fen); }) },
          { name: labels.orders, type: "line", yAxisIndex: 1, data: buckets.map(function (b) { return b.orders; }) }
        ];
        option.tooltip.formatter = function (points) {
          var b = buckets[points[0].dataIndex];
          return escapeHtml(title(points[0].dataIndex)) + "<br>" +
            tooltip([[labels.gmv, b.gmv_text], [labels.orders, b.orders]]);
        };
        return option;
      },
      commission: function () {
        var option = base(labels, data, categories);
        option.yAxis = { type: "value" };
        option.series = [{ name: labels.commission, type: "line", areaStyle: {},
                           data: buckets.map(function (b) { return yuan(b.commission_fen); }) }];
        option.tooltip.formatter = function (points) {
          var b = buckets[points[0].dataIndex];
          return escapeHtml(title(points[0].dataIndex)) + "<br>" + tooltip([[labels.commission, b.commission_text]]);
        };
        return option;
      },
      promoters: function () {
        var option = base(labels, data, categories);
        option.yAxis = { type: "value", minInterval: 1 };
        option.series = [
          { name: labels["new"], type: "bar", data: buckets.map(function (b) { return b.new_promoters; }) },
          { name: labels.active, type: "line", data: buckets.map(function (b) { return b.active_promoters; }) }
        ];
        option.tooltip.formatter = function (points) {
          var b = buckets[points[0].dataIndex];
          return escapeHtml(title(points[0].dataIndex)) + "<br>" +
            tooltip([[labels["new"], b.new_promoters], [labels.active, b.active_promoters]]);
        };
        return option;
      }
    };
    box.querySelectorAll("[data-chart]").forEach(function (el) {
      var spec = specs[el.dataset.chart];
      if (!spec) return;
      var existing = window.echarts.getInstanceByDom(el);
      if (existing) existing.dispose();
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(spec());
      charts.push(chart);
    });
  }

  function setup() {
    charts = charts.filter(function (chart) {
      if (chart.isDisposed() || !document.body.contains(chart.getDom())) {
        if (!chart.isDisposed()) chart.dispose();
        return false;
      }
      return true;
    });
    document.querySelectorAll("[data-dashboard-charts]:not([data-drawn])").forEach(function (box) {
      box.dataset.drawn = "1";
      var labels = JSON.parse(box.dataset.labels || "{}");
      fetch(box.dataset.src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) { if (data) draw(box, data, labels); })
        .catch(function () {});
    });
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { if (!chart.isDisposed()) chart.resize(); });
  });
  document.addEventListener("htmx:afterSettle", setup);
  setup();
})();
