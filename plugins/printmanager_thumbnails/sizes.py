"""Thumbnail sizes, in pixels: kept apart so that drawing a thumbnail imports no database code."""

from __future__ import annotations

#: the size made during a scan and recorded as a file's thumbnail, unless the library's
#: setting ``thumbnails.size`` says otherwise
DEFAULT_SIZE = 256
#: the smallest thumbnail made
MIN_SIZE = 16
#: the largest thumbnail made
MAX_SIZE = 2048
