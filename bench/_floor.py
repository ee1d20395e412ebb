"""The read+inflate+SHA-256 floor, as a plain Python process (not a benchmark itself).

    python bench/_floor.py DIR

Walks DIR (os.scandir), reads every file and SHA-256-hashes its bytes; a zip
(and so every 3MF package) also has each member inflated and hashed: the work
any correct scan must do on the same bytes, with no parsing. Prints the file
count and bytes as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile


def floor(root: str) -> tuple[int, int]:
    """(files, bytes) read, inflated and hashed under ``root``."""
    files = size = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for de in it:
                if de.is_dir(follow_symlinks=False):
                    stack.append(de.path)
                    continue
                with open(de.path, "rb") as fh:
                    data = fh.read()
                hashlib.sha256(data).digest()
                files += 1
                size += len(data)
                if data[:4] == b"PK\x03\x04":
                    try:
                        with zipfile.ZipFile(de.path) as zf:
                            for info in zf.infolist():
                                if not info.is_dir():
                                    hashlib.sha256(zf.read(info)).digest()
                    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError):
                        pass
    return files, size


if __name__ == "__main__":
    n, b = floor(sys.argv[1])
    print(json.dumps({"files": n, "bytes": b}))
