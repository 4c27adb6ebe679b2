"""The extension's Flask-Admin views (dashboard, feed, reports), added to the host's Admin by init_app, and the
list filters a host's own model views may use."""
