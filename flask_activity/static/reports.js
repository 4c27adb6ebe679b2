// The Reports page: while a run in the history is queued or running, its row is refreshed from the page itself
// (fetched again, parsed, the row swapped by its run id) until it finishes; then the page is read once more so
// the definitions' "Last run" and the download links are current. A static script: the CSP allows no inline code.
(function () {
  'use strict';
  var every = 1500, limit = 400;  // at most 10 minutes of polling from one page view
  function pending() { return document.querySelectorAll('tr[data-status="queued"], tr[data-status="running"]'); }
  var table = document.querySelector('table.report-history');
  var source = (table && table.getAttribute('data-refresh')) || window.location.href;  // the page by GET, even
  // when this one answered a POST (a refused Run now shows the page at the form's address)
  function poll() {
    if (!pending().length || limit-- <= 0) { return; }
    fetch(source, {credentials: 'same-origin', headers: {'Accept': 'text/html'}})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, 'text/html');
        var finished = false;
        Array.prototype.forEach.call(pending(), function (row) {
          var now = fresh.querySelector('tr[data-run="' + row.getAttribute('data-run') + '"]');
          if (!now) { return; }
          if (now.getAttribute('data-status') !== 'queued' && now.getAttribute('data-status') !== 'running') {
            finished = true;
          }
          row.replaceWith(document.importNode(now, true));
        });
        if (finished && !pending().length) {
          var defs = fresh.querySelector('table.report-definitions tbody');
          var mine = document.querySelector('table.report-definitions tbody');
          if (defs && mine) { mine.replaceWith(document.importNode(defs, true)); }
        }
        window.setTimeout(poll, every);
      })
      .catch(function () { window.setTimeout(poll, every * 4); });
  }
  window.setTimeout(poll, every);
}());
