"""Exceptions the library raises for the user's mistakes and bad input."""

from __future__ import annotations


class PrintManagerError(Exception):
    """Base class: the message is a one-line explanation for the user."""


class NotFound(PrintManagerError):
    """A file, model, tag, collection or setting that does not exist."""


class UsageError(PrintManagerError):
    """An argument the library cannot use (bad query, bad value)."""
