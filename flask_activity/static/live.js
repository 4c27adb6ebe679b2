// The activity feed's "Live" toggle: polls feed.json for events newer than the newest shown and prepends them.
// A static script (the Content-Security-Policy allows no inline code); rows are built with textContent only.
(function () {
  'use strict';
  var toggle = document.getElementById('live-toggle');
  var body = document.querySelector('.feed-table tbody');
  if (!toggle || !body) { return; }
  var zone = toggle.getAttribute('data-zone');
  var person = toggle.getAttribute('data-person');
  var people = toggle.getAttribute('data-people');
  var labels = JSON.parse(toggle.getAttribute('data-model-labels') || '{}');
  var every = parseInt(toggle.getAttribute('data-every'), 10) || 5000;
  var timer = null;
  var status = document.getElementById('live-status');
  var format = new Intl.DateTimeFormat('sv-SE', {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short'
  });

  function key(e) { return e.model + ':' + e.id + ':' + e.action + ':' + e.at; }
  function newest() {
    var time = body.querySelector('tr[data-key] time');
    return time ? time.getAttribute('datetime') : toggle.getAttribute('data-since');
  }
  function cell(row, text, className) {
    var td = document.createElement('td');
    if (className) { td.className = className; }
    td.textContent = text;
    row.appendChild(td);
    return td;
  }
  function row(e) {
    var tr = document.createElement('tr');
    tr.setAttribute('data-key', key(e));
    tr.className = 'live-new';
    var when = document.createElement('time');
    when.setAttribute('datetime', e.at);
    when.textContent = format.format(new Date(e.at));
    cell(tr, '').appendChild(when);
    cell(tr, labels[e.model] || e.model);
    cell(tr, String(e.id));
    cell(tr, e.action, 'action-' + e.action);
    var who = cell(tr, '', 'actor-cell').appendChild(document.createElement('a'));
    who.href = people + encodeURIComponent(e.actor ? String(e.actor.id) : 'system');
    who.textContent = e.actor ? (e.actor[person] || String(e.actor.id)) : 'system';
    cell(tr, e.label || '', 'label-cell');
    return tr;
  }
  function poll() {
    var url = new URL(toggle.getAttribute('data-feed'), window.location.href);
    var since = newest();
    if (since) { url.searchParams.set('since', since); }
    url.searchParams.set('limit', '100');
    fetch(url.toString(), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        var added = 0;
        data.events.slice().reverse().forEach(function (e) {
          if (body.querySelector('tr[data-key="' + CSS.escape(key(e)) + '"]')) { return; }
          var empty = body.querySelector('tr:not([data-key])');
          if (empty) { empty.remove(); }
          body.insertBefore(row(e), body.firstChild);
          added += 1;
        });
        if (status) { status.textContent = added ? added + ' new' : 'up to date'; }
      })
      .catch(function () { if (status) { status.textContent = 'paused: the feed did not answer'; } });
  }
  toggle.addEventListener('change', function () {
    if (timer) { clearInterval(timer); timer = null; }
    if (toggle.checked) { poll(); timer = setInterval(poll, every); }
    if (status) { status.textContent = toggle.checked ? 'live' : ''; }
  });
}());
