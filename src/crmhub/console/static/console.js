// crmhub console: progressive enhancement only — every page works without it (forms post, links navigate).
// No inline scripts anywhere (the CSP forbids them): charts are declared as data-chart="<ECharts option JSON>".
(function () {
  "use strict";

  function drawCharts(root) {
    if (typeof echarts === "undefined") { return; }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) { return; }
      var option;
      try { option = JSON.parse(el.dataset.chart); } catch (e) { return; }
      var chart = echarts.init(el, null, { renderer: "svg" });
      chart.setOption(option);
      el.dataset.drawn = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  // "select all" checkboxes: <input type="checkbox" data-select-all="name-of-row-checkboxes">
  function wireSelectAll(root) {
    root.querySelectorAll("[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        document.querySelectorAll('input[type=checkbox][name="' + box.dataset.selectAll + '"]')
          .forEach(function (row) { row.checked = box.checked; });
      });
    });
  }

  // forms that ask first: <form data-confirm="Are you sure?">
  function wireConfirm(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
      });
    });
  }

  function init(root) { drawCharts(root); wireSelectAll(root); wireConfirm(root); }

  document.addEventListener("DOMContentLoaded", function () {
    init(document);
  });
})();
