"""A real ``pip install printmanager`` without extras: the CLI and the library work.

The package is built into a wheel from this tree and installed, with its core
dependencies only, into a fresh virtual environment; every command then runs in
that environment as a new process. The built-in plugins whose extras are missing
are off (listed with what to install), not broken. Installing one extra's
package then turns that plugin on and leaves the others off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "examples" / "models"
#: the packages the extras bring, none of which a core install may have
EXTRA_MODULES = ("PIL", "cryptography", "keyring", "httpx", "botocore", "starlette", "uvicorn", "jinja2", "joserfc", "pyrage",
                 "watchfiles")

pytestmark = pytest.mark.slow


def _pip(*args: str, timeout: float = 300) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                   check=True, timeout=timeout, capture_output=True, text=True)


def _copy_source(dest: Path) -> Path:
    """The files a build needs, copied so that the build leaves nothing in this tree."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, dest / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "printmanager_core", dest / "printmanager_core", ignore=junk)
    shutil.copytree(REPO / "plugins", dest / "plugins", ignore=junk)
    return dest


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding printmanager and its core dependencies only."""
    tmp = tmp_path_factory.mktemp("install")
    source = _copy_source(tmp / "src")
    wheels = tmp / "wheels"
    _pip("wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels), str(source))
    (wheel,) = wheels.glob("printmanager-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # the core dependencies come from the package index, as for any user
    _pip("--python", str(python), "install", "--quiet", "--no-compile", str(wheel))
    return venv


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRINTMANAGER_", "PYTHON"))}
    env.update(
        PRINTMANAGER_LIBRARY=str(home / "library"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
    )
    return env


def _run(venv: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = venv / "bin" / "printmanager"
    return subprocess.run([str(exe), *args], cwd=home, env=_env(home), capture_output=True, text=True,
                          timeout=120)


def _python(venv: Path, home: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=home, env=_env(home),
                          capture_output=True, text=True, timeout=120)


def _installed(venv: Path, home: Path) -> dict[str, bool]:
    code = (
        "import importlib.util, json, sys\n"
        f"print(json.dumps({{m: importlib.util.find_spec(m) is not None for m in {EXTRA_MODULES!r}}}))\n"
    )
    result = _python(venv, home, code)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _plugin_rows(venv: Path, home: Path) -> dict[str, dict]:
    result = _run(venv, home, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return {row["name"]: row for row in json.loads(result.stdout)}


@pytest.mark.skipif(os.name == "nt", reason="the venv layout used here is POSIX's")
def test_plain_install_gives_a_working_cli_and_library(core_venv: Path, tmp_path: Path) -> None:
    home = tmp_path
    # the environment really lacks every extra: this is what `pip install printmanager` gives
    assert _installed(core_venv, home) == {m: False for m in EXTRA_MODULES}

    version = _run(core_venv, home, "--version")
    assert version.returncode == 0 and "0.1.0" in version.stdout, version.stderr

    help_ = _run(core_venv, home, "--help")
    assert help_.returncode == 0, help_.stderr
    assert help_.stderr == ""  # off plugins are not a warning on every command
    flat = " ".join(help_.stdout.split())
    assert "thumbnails plugin off: install 'printmanager[thumbnails]' (needs Pillow)" in flat
    assert "vault plugin off: install 'printmanager[vault]' (needs cryptography, keyring)" in flat
    assert "sync plugin off: install 'printmanager[sync]' (needs cryptography, httpx, botocore)" in flat
    assert "web plugin off: install 'printmanager[web]' (needs starlette, uvicorn, jinja2)" in flat
    for command in ("scan", "ls", "models", "plugins", "privacy"):
        assert f"  {command} " in help_.stdout

    rows = _plugin_rows(core_venv, home)
    assert rows["thumbnails"]["status"] == "off"
    assert rows["thumbnails"]["install"] == "printmanager[thumbnails]"
    assert rows["thumbnails"]["needs"] == ["Pillow"]
    assert rows["sync"]["needs"] == ["cryptography", "httpx", "botocore"]
    assert rows["printmanager_core.readers.stl"]["status"] == "on"
    text = _run(core_venv, home, "plugins")
    assert "thumbnails 0.1.0  (off: install 'printmanager[thumbnails]', needs Pillow)" in text.stdout

    scan = _run(core_venv, home, "scan", str(MODELS))
    assert scan.returncode == 0, scan.stderr
    assert scan.stderr == ""
    assert " added," in scan.stdout and " 0 errors" in scan.stdout
    listed = _run(core_venv, home, "ls", "format:stl", "--json")
    assert listed.returncode == 0, listed.stderr
    stls = json.loads(listed.stdout)
    assert stls and all(f["format"] == "stl" for f in stls)
    negated = _run(core_venv, home, "ls", "-format:stl", "--json")
    assert negated.returncode == 0, negated.stderr
    assert {f["path"] for f in json.loads(negated.stdout)}.isdisjoint(f["path"] for f in stls)

    # a command of a plugin that is off: a one-line usage error that says why
    thumb = _run(core_venv, home, "thumbnail", "1")
    assert thumb.returncode == 2
    assert "No such command 'thumbnail'" in thumb.stderr
    assert "Plugins not loaded: account, notify, printers, share, sync, thumbnails, vault, web" in thumb.stderr
    assert "Traceback" not in thumb.stderr

    # a core command whose optional library is missing: one line saying what to install
    watch = _run(core_venv, home, "watch", str(MODELS))
    assert watch.returncode == 1 and "Traceback" not in watch.stderr
    assert watch.stderr.strip() == "Error: watch needs watchfiles: install 'printmanager[watch]'"

    export = _run(core_venv, home, "privacy", "export", "-o", str(tmp_path / "export.zip"))
    assert export.returncode == 0, export.stderr

    # the library, from Python
    lib = _python(core_venv, home, (
        "from printmanager_core import Library\n"
        f"with Library({str(tmp_path / 'lib2')!r}) as lib:\n"
        f"    report = lib.scan([{str(MODELS)!r}], workers=1)\n"
        "    print(report.added, report.errors, len(lib.files('format:stl')))\n"
    ))
    assert lib.returncode == 0, lib.stderr
    added, errors, stl_count = map(int, lib.stdout.split())
    assert added > 0 and errors == 0 and stl_count == len(stls)


@pytest.mark.skipif(os.name == "nt", reason="the venv layout used here is POSIX's")
def test_one_extra_installs_on_its_own_and_turns_its_plugin_on(core_venv: Path, tmp_path: Path) -> None:
    home = tmp_path
    python = core_venv / "bin" / "python"
    _pip("--python", str(python), "install", "--quiet", "--no-compile", "Pillow>=10.1")
    try:
        assert _installed(core_venv, home)["PIL"] is True
        rows = _plugin_rows(core_venv, home)
        assert rows["thumbnails"]["status"] == "on" and "make_thumbnail" in rows["thumbnails"]["hooks"]
        assert rows["vault"]["status"] == "off" and rows["sync"]["status"] == "off" and rows["web"]["status"] == "off"

        scan = _run(core_venv, home, "scan", str(MODELS))
        assert scan.returncode == 0 and scan.stderr == "", scan.stderr
        stl = json.loads(_run(core_venv, home, "ls", "format:stl", "--json").stdout)[0]
        thumb = _run(core_venv, home, "thumbnail", str(stl["id"]), "--json")
        assert thumb.returncode == 0, thumb.stderr
        png = Path(json.loads(thumb.stdout)["path"])
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        _pip("--python", str(python), "uninstall", "--quiet", "--yes", "Pillow")


def test_readme_install_section_names_every_extra() -> None:
    from importlib import metadata

    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert [line.split("#")[0].strip() for line in quick.strip().splitlines()] == ["make demo", "make test"]
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert "pip install 'printmanager[all]'" in install and "pip install printmanager`" in install
    # test and bench are the developers' extras (`make test`, `make bench`), not features to install
    extras = set(metadata.metadata("printmanager").get_all("Provides-Extra") or []) - {"test", "bench"}
    assert extras == {"thumbnails", "vault", "sync", "web", "account", "share", "notify", "printers", "watch", "all"}
    for extra in extras:
        assert f"| `{extra}` |" in install, extra
    # each plugin extra is named like the plugin's entry point: that is how a missing one is found
    names = {ep.name for ep in metadata.entry_points(group="printmanager") if ep.dist.metadata["Name"] == "printmanager"}
    # (watch is no plugin: it is the optional library of the core command `printmanager watch`)
    assert names == extras - {"all", "watch"}
