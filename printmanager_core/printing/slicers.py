"""Slicers: finding an installed one, opening files in it, slicing headless.

Each slicer is found the way its own installers put it on each system:

* Linux: the command on ``PATH`` (a distribution package, ``/usr/bin/prusa-slicer``),
  a Flatpak (``flatpak run <app id>``, installed system-wide or per user), or an
  AppImage in ``~/Applications``, ``~/.local/bin``, ``~/Downloads``, ``/opt`` or
  ``/usr/local/bin``.
* macOS: the app bundle in ``/Applications`` or ``~/Applications``
  (``PrusaSlicer.app/Contents/MacOS/PrusaSlicer``).
* Windows: ``Program Files`` (``%ProgramW6432%``, ``%ProgramFiles%``,
  ``%ProgramFiles(x86)%``) and ``%LOCALAPPDATA%\\Programs``, in the vendor's folder.

Nothing here is run at import; a slicer is looked for only when a command asks.
"""

from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import attrs

from ..errors import NotFound, PrintManagerError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from ..library import Library
    from ..records import FileRecord


@attrs.frozen
class SlicerKind:
    """Where one slicer is installed on each system, and whether its CLI slices headless."""

    name: str
    title: str
    commands: tuple[str, ...]  # on PATH (Linux packages, also macOS/Windows when on PATH)
    flatpaks: tuple[str, ...]
    appimages: tuple[str, ...]  # glob patterns of AppImage file names
    mac_apps: tuple[str, ...]  # "<App>.app/Contents/MacOS/<binary>"
    windows: tuple[str, ...]  # under Program Files: "<vendor folder>/<exe>" (globs)
    #: PrusaSlicer's command line (``--export-gcode --load INI --output DIR``) slices headless
    prusa_cli: bool = False


SLICERS: dict[str, SlicerKind] = {
    "prusaslicer": SlicerKind(
        "prusaslicer", "PrusaSlicer", ("prusa-slicer", "PrusaSlicer", "prusaslicer"),
        ("com.prusa3d.PrusaSlicer",), ("PrusaSlicer*.AppImage",),
        ("PrusaSlicer.app/Contents/MacOS/PrusaSlicer",),
        ("Prusa3D/PrusaSlicer/prusa-slicer.exe", "Prusa3D/PrusaSlicer/prusa-slicer-console.exe",
         "PrusaSlicer/prusa-slicer.exe"),
        prusa_cli=True,
    ),
    "superslicer": SlicerKind(
        "superslicer", "SuperSlicer", ("superslicer", "SuperSlicer", "super-slicer"),
        ("com.superslicer.SuperSlicer", "com.supermerill.SuperSlicer"), ("SuperSlicer*.AppImage",),
        ("SuperSlicer.app/Contents/MacOS/SuperSlicer",),
        ("SuperSlicer/superslicer.exe", "SuperSlicer*/superslicer.exe"),
        prusa_cli=True,
    ),
    "orca": SlicerKind(
        "orca", "OrcaSlicer", ("orca-slicer", "orcaslicer", "OrcaSlicer"),
        ("io.github.softfever.OrcaSlicer", "com.orcaslicer.OrcaSlicer"), ("OrcaSlicer*.AppImage", "Orca*Slicer*.AppImage"),
        ("OrcaSlicer.app/Contents/MacOS/OrcaSlicer",),
        ("OrcaSlicer/orca-slicer.exe", "OrcaSlicer/OrcaSlicer.exe"),
    ),
    "bambu": SlicerKind(
        "bambu", "Bambu Studio", ("bambu-studio", "BambuStudio", "bambustudio"),
        ("com.bambulab.BambuStudio",), ("Bambu*Studio*.AppImage",),
        ("BambuStudio.app/Contents/MacOS/BambuStudio",),
        ("Bambu Studio/bambu-studio.exe", "BambuStudio/bambu-studio.exe"),
    ),
    "cura": SlicerKind(
        "cura", "UltiMaker Cura", ("cura", "UltiMaker-Cura", "ultimaker-cura"),
        ("com.ultimaker.cura",), ("UltiMaker-Cura*.AppImage", "Ultimaker_Cura*.AppImage", "Cura*.AppImage"),
        ("UltiMaker Cura.app/Contents/MacOS/UltiMaker-Cura", "Ultimaker Cura.app/Contents/MacOS/cura"),
        ("UltiMaker Cura*/UltiMaker-Cura.exe", "Ultimaker Cura*/Cura.exe"),
    ),
}


def _choose(name: str) -> SlicerKind:
    kind = SLICERS.get(name.lower())
    if kind is None:
        raise UsageError(f"unknown slicer {name!r} (choose from {', '.join(SLICERS)})")
    return kind


def _flatpak_installed(app_id: str, home: Path) -> bool:
    return any((base / app_id).is_dir() for base in (Path("/var/lib/flatpak/app"), home / ".local/share/flatpak/app"))


def find_slicer(
    name: str,
    *,
    system: str | None = None,
    env: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
    roots: Sequence[str | os.PathLike[str]] = (),
) -> list[str]:
    """The command line that starts slicer ``name`` (``prusaslicer``, ``orca``, ``bambu``,
    ``cura``, ``superslicer``) as installed here.

    :param system: ``Linux``, ``Darwin`` or ``Windows`` (default: this one).
    :param env: the environment (``PATH``, ``ProgramFiles``…; default ``os.environ``).
    :param home: the user's home folder (default ``~``).
    :param roots: folders standing for ``/`` (a test's, or a mounted system's): the
        fixed places are looked for under each.
    :raises NotFound: it is not installed in any of the places it installs to.
    """
    kind = _choose(name)
    system = system or platform.system()
    env = dict(os.environ if env is None else env)
    home_dir = Path(home) if home is not None else Path.home()
    bases = [Path(r) for r in roots] or [Path("/")]

    def under(path: str) -> list[Path]:
        p = Path(path)
        return [b / p.relative_to(p.anchor) for b in bases] if p.is_absolute() and roots else [p]

    path_var = env.get("PATH", "")
    for command in kind.commands:
        found = shutil.which(command, path=path_var)
        if found is None and system == "Windows":
            found = shutil.which(command + ".exe", path=path_var)
        if found:
            return [found]
    if system == "Darwin":
        for app in kind.mac_apps:
            for folder in (*under("/Applications"), home_dir / "Applications"):
                candidate = folder / app
                if candidate.is_file():
                    return [str(candidate)]
    elif system == "Windows":
        folders = [env.get(k) for k in ("ProgramW6432", "ProgramFiles", "ProgramFiles(x86)")]
        if env.get("LOCALAPPDATA"):
            folders.append(str(Path(env["LOCALAPPDATA"]) / "Programs"))
        for folder in dict.fromkeys(f for f in folders if f):
            for pattern in kind.windows:
                hits = sorted(glob.glob(str(Path(folder) / pattern)), reverse=True)  # the newest version first
                if hits:
                    return [hits[0]]
    else:
        flatpak = shutil.which("flatpak", path=path_var)
        for app_id in kind.flatpaks:
            if flatpak and _flatpak_installed(app_id, home_dir):
                return [flatpak, "run", app_id]
        places = [home_dir / "Applications", home_dir / ".local/bin", home_dir / "Downloads",
                  *under("/opt"), *under("/usr/local/bin")]
        for folder in places:
            for pattern in kind.appimages:
                hits = sorted((p for p in folder.glob(pattern) if os.access(p, os.X_OK)), reverse=True)
                if hits:
                    return [str(hits[0])]
    raise NotFound(f"{kind.title} is not installed here (looked on PATH and where its installers put it "
                   f"on {system}); install it, or choose another with --slicer")


def open_in_slicer(name: str, files: Sequence[str], **where: object) -> tuple[list[str], int]:
    """Start slicer ``name`` with ``files`` (paths on disk), detached; its command line and pid."""
    argv = [*find_slicer(name, **where), *files]  # type: ignore[arg-type]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    return argv, proc.pid


_EXPORTED = re.compile(r"Slicing result exported to (.+?)\s*$", re.M)


def slice_file(name: str, source: str, config: str | os.PathLike[str] | None, out_dir: str | os.PathLike[str],
               *, timeout: float = 600.0, **where: object) -> Path:
    """Slice ``source`` with slicer ``name``'s own command line, headless; the G-code written.

    :param config: a profile (``.ini``) the slicer loads.
    :param out_dir: the folder the G-code is written into (the slicer names the file).
    :raises PrintManagerError: the slicer failed (its last line of output is in the message).
    """
    kind = _choose(name)
    if not kind.prusa_cli:
        raise UsageError(f"slice runs prusaslicer or superslicer headless; {kind.title} has no such command line "
                         "here (open it with: printmanager open ID --slicer " + kind.name + ")")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise UsageError(f"cannot write into {out}; choose a folder with --out")
    argv = [*find_slicer(name, **where), "--export-gcode"]  # type: ignore[arg-type]
    if config is not None:
        if not Path(config).is_file():
            raise NotFound(f"no profile {config}")
        argv += ["--load", str(config)]
    before = {p.name for p in out.iterdir()}
    argv += ["--output", str(out), source]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PrintManagerError(f"{kind.title} did not finish slicing in {timeout:.0f} s") from None
    output = (done.stdout or "") + (done.stderr or "")
    if done.returncode != 0:
        last = next((line for line in reversed(output.splitlines()) if line.strip()), "no output")
        raise PrintManagerError(f"{kind.title} could not slice {Path(source).name}: {last.strip()}")
    m = _EXPORTED.search(output)
    if m and Path(m.group(1)).is_file():
        return Path(m.group(1)).resolve()
    new = [p for p in out.iterdir() if p.name not in before and p.suffix in (".gcode", ".bgcode")]
    if len(new) == 1:
        return new[0].resolve()
    raise PrintManagerError(f"{kind.title} finished but wrote no G-code into {out}")


#: formats a slicer opens as a model (sliced files open in a slicer's G-code viewer instead)
MESH_FORMATS = ("stl", "3mf", "obj", "amf", "step", "ply")


def _on_disk(library: "Library", rec: "FileRecord") -> str:
    """A path on disk for ``rec``: its own, or (an archive member) a copy in the library's cache."""
    if not rec.archive_path:
        return rec.path
    folder = library.directory / "cache" / "slicer-files" / str(rec.id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / Path(rec.path.split("!/", 1)[1]).name
    with library.open_file(rec) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return str(target)


def files_to_open(library: "Library", target: int | str, *, model: bool = False) -> list["FileRecord"]:
    """The files ``target`` names for a slicer: a file itself, or a model's mesh files
    (its sliced files when it has no mesh)."""
    from .log import resolve_target

    rec, file = resolve_target(library, target, model=model)
    if file is not None:
        return [file]
    files = [f for f in library.model_files(rec.id) if not f.error]
    meshes = [f for f in files if f.format in MESH_FORMATS]
    chosen = meshes or [f for f in files if f.format in ("gcode", "bgcode", "gcode.3mf")]
    if not chosen:
        raise UsageError(f"model {rec.id} has no file a slicer opens")
    return chosen


def open_target(library: "Library", target: int | str, slicer: str, *, model: bool = False,
                **where: object) -> tuple[list[str], int]:
    """Open the file or model ``target`` in ``slicer``; the command line started and its pid."""
    paths = [_on_disk(library, f) for f in files_to_open(library, target, model=model)]
    return open_in_slicer(slicer, paths, **where)


def slice_target(library: "Library", target: int | str, slicer: str, config: str | os.PathLike[str] | None,
                 out_dir: str | os.PathLike[str] | None = None, *, model: bool = False,
                 **where: object) -> tuple["FileRecord", list["FileRecord"]]:
    """Slice the mesh ``target`` names, headless, catalogue the G-code and link it to its source.

    A model is sliced when it has one mesh file (name the file otherwise). The
    G-code goes beside the source, or into ``out_dir``; that folder is scanned
    (added as a root when it is in none). Returns the G-code's record and its sources.
    """
    sources = [f for f in files_to_open(library, target, model=model) if f.format in MESH_FORMATS]
    if not sources:
        raise UsageError("slice takes a mesh (STL, 3MF, OBJ, AMF, STEP): that is a sliced file already")
    if len(sources) > 1:
        names = ", ".join(f"{f.id} {f.name}" for f in sources[:5])
        raise UsageError(f"that model has {len(sources)} meshes ({names}…); name the file to slice")
    source = sources[0]
    path = _on_disk(library, source)
    folder = Path(out_dir).expanduser().resolve() if out_dir else Path(source.archive_path or source.path).parent
    written = slice_file(slicer, path, config, folder, **where)
    library.scan([written.parent], thumbnails=True)
    gcode = library.file(str(written))
    from .links import link

    link(library, gcode.id, source.id, how="slice")
    return library.file(gcode.id), [library.file(source.id)]
