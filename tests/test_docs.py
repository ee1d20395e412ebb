"""Docs and code agree: every hook and every CLI command is documented and tested."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import click
import pytest

from printmanager_core import plugins
from printmanager_core.cli import load_commands

REPO = Path(__file__).resolve().parents[1]
#: the core's specs and the ones our plugins add (``make_thumbnail`` comes from the thumbnails plugin)
SPECS = plugins.hook_specs()
HOOKS = sorted(SPECS)


def _commands(group: click.Group, prefix: str = "printmanager") -> list[str]:
    names = []
    for name, cmd in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            names.append(path)
            names.extend(_commands(cmd, path))
        else:
            names.append(path)
    return names


def test_hooks_found() -> None:
    assert "register_readers" in HOOKS and "make_thumbnail" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook: str) -> None:
    doc = (REPO / "docs" / "plugin_hooks.md").read_text()
    assert re.search(rf"^## {hook}\(", doc, re.M), f"docs/plugin_hooks.md has no '## {hook}(...)' section"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str) -> None:
    sources = "\n".join(p.read_text() for p in (REPO / "tests").glob("test_*.py"))
    assert re.search(rf"def test_{hook}\w*\(", sources), f"no test named test_{hook}..."


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_spec_has_a_docstring(hook: str) -> None:
    assert (SPECS[hook].__doc__ or "").strip()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_documents_the_spec_arguments(hook: str) -> None:
    doc = (REPO / "docs" / "plugin_hooks.md").read_text()
    [documented] = re.findall(rf"^## {hook}\((.*)\)\s*$", doc, re.M)
    arguments = [a.strip() for a in documented.split(",") if a.strip()]
    parameters = list(inspect.signature(SPECS[hook]).parameters)
    assert arguments == parameters, f"docs/plugin_hooks.md documents {hook}({documented}); the spec takes {parameters}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_parameter_is_typed_and_described(hook: str) -> None:
    spec = SPECS[hook]
    doc = spec.__doc__ or ""
    for name, parameter in inspect.signature(spec).parameters.items():
        assert parameter.annotation not in (inspect.Parameter.empty, "Any"), f"{hook}: {name} has no type"
        assert f":param {name}:" in doc, f"{hook}: no ':param {name}:' in the spec's docstring"


def test_every_command_is_documented() -> None:
    doc = (REPO / "docs" / "cli.md").read_text()
    documented = set(re.findall(r"^### (printmanager[\w\- ]*?)\s*$", doc, re.M))
    missing = []
    for path in _commands(load_commands()):
        # a group's subcommands may be documented together under the group's heading
        if path not in documented and not any(path.startswith(d + " ") for d in documented):
            missing.append(path)
    assert not missing, f"commands without a '### ...' section in docs/cli.md: {missing}"


def test_every_environment_variable_is_documented() -> None:
    doc = (REPO / "docs" / "cli.md").read_text()
    section = doc.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    used = set()
    for package in ("printmanager_core", "plugins"):
        for path in (REPO / package).rglob("*.py"):
            used.update(re.findall(r"\bPRINTMANAGER_[A-Z][A-Z_]*[A-Z]\b", path.read_text()))
    missing = sorted(name for name in used if f"`{name}`" not in section)
    assert "PRINTMANAGER_TRACE_PLUGINS" in used and not missing, f"not in docs/cli.md's environment table: {missing}"
