"""Apps that adopt the extension as any other app would (examples/helpdesk)."""
