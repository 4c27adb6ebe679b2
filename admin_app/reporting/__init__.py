"""Scheduled CSV reports: the mechanism (definitions are data, kept in the top-level reports/ package)."""
