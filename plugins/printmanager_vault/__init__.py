"""printmanager's built-in vault plugin (placeholder until its issue lands)."""
