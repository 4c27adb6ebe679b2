// CSP-safe behaviour for admin pages: no inline handlers are allowed by the Content-Security-Policy.
document.addEventListener('click', function (ev) {
  var action = ev.target.closest('[data-model-action]');
  if (action) {
    ev.preventDefault();
    if (window.modelActions) { window.modelActions.execute(action.getAttribute('data-model-action')); }
    return;
  }
  if (ev.target.closest('a[href="#"]')) {
    ev.preventDefault();  // menu links handled by Flask-Admin's scripts
  }
  var confirmable = ev.target.closest('[data-confirm]');
  if (confirmable && !window.confirm(confirmable.getAttribute('data-confirm'))) {
    ev.preventDefault();
  }
});
