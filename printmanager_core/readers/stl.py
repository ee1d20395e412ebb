"""Reader placeholder: being written."""
