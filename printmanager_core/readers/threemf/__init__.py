"""3MF: the package, its model parts, the build as placed, slicer projects, pictures.

One module per layer of the format; the reader (:mod:`.reader`) puts them
together, and the ``.gcode.3mf`` reader (:mod:`..gcode3mf`) uses the package and
plate-picture code too:

- :mod:`.package` — the OPC zip: parts by name, relationships, the start part;
- :mod:`.model` — one model part (objects, build items, metadata), streamed;
  :mod:`.meshblocks` reads plainly written mesh blocks in bulk;
- :mod:`.beams` — the beam-lattice extension;
- :mod:`.build` — the build as placed across model parts (production
  extension), transforms and units, and its measures;
- :mod:`.project` — PrusaSlicer, Bambu Studio and OrcaSlicer project facts;
- :mod:`.pictures` — thumbnails and plate pictures.

This package module imports none of them, so importing one part does not load
the others.
"""
