// The model lists (CSP-safe: loaded by src, no inline handlers). Flask-Admin's filters.js has built the filter rows
// from #active-filters-data, one row per entry in its order; a refused value's reason (rendered under the filter
// form, data-filter-row = its entry) moves beside its row's field, which keeps the value as typed.
(function () {
  'use strict';
  // Flask-Admin's row checkboxes carry only a title; a label of their own names the row for screen readers.
  document.querySelectorAll('input.action-rowtoggle').forEach(function (box) {
    box.setAttribute('aria-label', 'Select every row on this page');
  });
  document.querySelectorAll('input.action-checkbox').forEach(function (box) {
    box.setAttribute('aria-label', 'Select row ' + box.value);
  });
  // Flask-Admin's filter rows (built by its filters.js) give their fields no label: name each by its filter.
  function labelFilters() {
    document.querySelectorAll('#filter_form table.filters tr').forEach(function (row) {
      var name = (row.cells[0] ? row.cells[0].textContent : '').replace(/^[\s\u00a0\u00d7]+/, '').trim() || 'Filter';
      row.querySelectorAll('select.filter-op').forEach(function (op) { op.setAttribute('aria-label', name + ': how'); });
      row.querySelectorAll('.filter-val').forEach(function (field) { field.setAttribute('aria-label', name + ': value'); });
    });
  }
  labelFilters();
  document.addEventListener('click', function (ev) {
    if (ev.target.closest('a.filter')) { window.setTimeout(labelFilters, 0); }  // "Add filter" made a new row
  });
  var form = document.getElementById('filter_form');
  var data = document.getElementById('active-filters-data');
  if (!form || !data) { return; }
  var typed = JSON.parse(data.textContent);
  var rows = form.querySelectorAll('table.filters tr');
  form.querySelectorAll('.filter-error[data-filter-row]').forEach(function (error) {
    var index = parseInt(error.getAttribute('data-filter-row'), 10);
    var row = rows[index];
    if (!row || !row.cells.length) { return; }
    var cell = row.cells[row.cells.length - 1];
    var field = cell.querySelector('.filter-val');
    cell.appendChild(error);
    if (!field) { return; }
    if (field.tagName === 'INPUT' && field.type === 'text' && typed[index]) {
      field.value = typed[index][2];  // a date picker may have put its own reading of the value there
    }
    field.classList.add('is-invalid');
    field.setAttribute('aria-invalid', 'true');
    field.setAttribute('aria-describedby', error.id);
  });
})();
