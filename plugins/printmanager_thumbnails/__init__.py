"""printmanager's built-in thumbnails plugin (placeholder until its issue lands)."""
