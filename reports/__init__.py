"""Scheduled CSV report definitions (issue 3). Reports will call admin_app.activity and admin_app.csvsafe."""
