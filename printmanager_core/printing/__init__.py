"""From catalogue to printer: the print log, sliced ↔ source links, slicers (docs/printing.md).

* :mod:`.log` — the print log: prints of a model (and the file printed), by hand
  or pulled from a printer's job history.
* :mod:`.links` — which mesh a G-code file was sliced from, from what the slicer
  wrote (object names, source file names, 3MF metadata) and file names.
* :mod:`.slicers` — finding an installed slicer, opening files in it, slicing
  headless with its own command line.
* :mod:`.plugin` — the built-in plugin that links G-code after each scan.
"""
