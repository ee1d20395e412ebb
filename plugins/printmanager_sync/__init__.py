"""printmanager's built-in sync plugin (placeholder until its issue lands)."""
