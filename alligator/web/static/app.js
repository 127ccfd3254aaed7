// Live counts: every 2 s, fetch /api/counts and update the cells marked
// data-count="QUEUE|STATE". textContent only: nothing fetched becomes HTML.
(function () {
  "use strict";
  function cells() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-count]"));
  }
  function refresh() {
    var marked = cells();
    if (!marked.length) { return; }
    var queues = [];
    marked.forEach(function (cell) {
      var queue = cell.getAttribute("data-count").replace(/\|[a-z]+$/, "");
      if (queues.indexOf(queue) < 0) { queues.push(queue); }
    });
    var query = queues.map(function (q) { return "queue=" + encodeURIComponent(q); }).join("&");
    fetch("/api/counts?" + query, {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (rows) {
        rows.forEach(function (row) {
          ["ready", "delayed", "reserved", "buried"].forEach(function (state) {
            marked.forEach(function (cell) {
              if (cell.getAttribute("data-count") === row.queue + "|" + state) {
                cell.textContent = String(row[state]);
              }
            });
          });
        });
        var stamp = document.getElementById("refreshed");
        if (stamp) { stamp.textContent = "Last: " + new Date().toLocaleTimeString(); }
      })
      .catch(function () { /* the next tick tries again */ });
  }
  document.addEventListener("DOMContentLoaded", function () {
    window.setInterval(refresh, 2000);
  });
})();
