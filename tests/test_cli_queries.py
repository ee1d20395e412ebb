"""Query arguments on the command line: a word starting with ``-`` is query text, not an option.

Real ``printmanager`` processes over a library scanned from examples/models,
plus the same checks in-process for every command that takes a query.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cli_support import run
from printmanager_core import Library
from printmanager_core.cli import load_commands
from printmanager_core.cli.queryargs import QueryCommand

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "examples" / "models"


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cliq") / "library"
    with Library(directory) as lib:
        lib.scan([MODELS], workers=1, thumbnails=False)
    return directory


def _cli(library: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRINTMANAGER_LIBRARY": str(library)}
    return subprocess.run([sys.executable, "-m", "printmanager_core", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def _paths(out: str) -> set[str]:
    return {f["path"] for f in json.loads(out)}


def test_a_negated_term_is_query_text_in_a_real_process(scanned: Path) -> None:
    every = _cli(scanned, "ls", "--json")
    stl = _cli(scanned, "ls", "format:stl", "--json")
    not_stl = _cli(scanned, "ls", "-format:stl", "--json")
    for result in (every, stl, not_stl):
        assert result.returncode == 0, result.stderr
    assert _paths(stl.stdout) and _paths(not_stl.stdout)
    assert _paths(stl.stdout) | _paths(not_stl.stdout) == _paths(every.stdout)
    assert not _paths(stl.stdout) & _paths(not_stl.stdout)

    # the documented example, word for word
    gcode = _cli(scanned, "ls", "-format:gcode")
    assert gcode.returncode == 0, gcode.stderr
    assert "No such option" not in gcode.stderr

    models = _cli(scanned, "models", "-format:stl", "--json")
    assert models.returncode == 0, models.stderr
    assert json.loads(models.stdout)


def test_double_dash_still_ends_the_options(scanned: Path) -> None:
    plain = _cli(scanned, "ls", "-format:stl", "--json")
    dashed = _cli(scanned, "ls", "--json", "--", "-format:stl")
    assert dashed.returncode == 0, dashed.stderr
    assert _paths(dashed.stdout) == _paths(plain.stdout)
    # after --, even a word that is an option is query text
    literal = _cli(scanned, "ls", "--", "--json")
    assert literal.returncode == 0, literal.stderr
    with pytest.raises(json.JSONDecodeError):  # lines of text: --json was a query word (-"-json")
        json.loads(literal.stdout)


def test_a_mistyped_long_option_is_still_an_error(scanned: Path) -> None:
    result = _cli(scanned, "ls", "--jsn")
    assert result.returncode == 2
    assert "No such option '--jsn'" in result.stderr and "--json" in result.stderr


@pytest.mark.parametrize("command", ["ls", "models"])
def test_every_query_command_takes_dash_words(
    command: str, scanned: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (["-format:stl"], ["benchy", "-format:3mf", "-tag:nope"], ["-triangles>100", "--json"],
                 ["--json", "-is:missing", "-has:error"]):
        code, out, err = run(capsys, scanned, command, *args)
        assert code == 0, (args, err)
        assert "No such option" not in err
    code, out, err = run(capsys, scanned, command, "-h")
    assert code == 0 and "Usage: printmanager" in out


def test_options_and_query_words_mix_in_any_order(scanned: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, first, err = run(capsys, scanned, "ls", "--json", "-format:stl", "--missing", "benchy")
    assert code == 0, err
    code, second, err = run(capsys, scanned, "ls", "benchy", "--missing", "-format:stl", "--json")
    assert code == 0, err
    assert json.loads(first) == json.loads(second)


def test_every_command_with_a_query_argument_is_a_query_command() -> None:
    # a variadic argument named like a query, anywhere in the CLI, gets the same parsing
    def walk(group: click.Group) -> list[click.Command]:
        found: list[click.Command] = []
        for cmd in group.commands.values():
            found.extend(walk(cmd) if isinstance(cmd, click.Group) else [cmd])
        return found

    with_query = [
        cmd for cmd in walk(load_commands())
        if any(isinstance(p, click.Argument) and p.name == "query" for p in cmd.params)
    ]
    assert {cmd.name for cmd in with_query} >= {"ls", "models"}
    assert all(isinstance(cmd, QueryCommand) for cmd in with_query), [c.name for c in with_query]


@pytest.mark.parametrize(
    "query, message",
    [
        ("model:99999999999999999999999", None),
        ("-model:99999999999999999999999", None),
        ("model:" + "9" * 5000, None),
        ("time<99999999999999999999h", None),
        ("size>99999999999999999999TiB", None),
        ("triangles>" + "9" * 400, "too large a number"),
        (" ".join(f"w{i}" for i in range(20_000)), "query too long"),
        (" ".join("a" for _ in range(1_000)), "too many terms"),
        ("a\x00b", "NUL"),
    ],
)
def test_hostile_queries_work_or_give_one_line(
    query: str, message: str | None, scanned: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, scanned, "ls", query)
    if message is None:
        assert code == 0, err
        assert err == ""
    else:
        assert code == 1
        assert err.startswith("Error: ") and message in err and err.count("\n") == 1, err
        assert "unexpected internal error" not in err


def test_hostile_query_in_a_real_process_is_one_line(scanned: Path) -> None:
    result = _cli(scanned, "ls", "size<99999999999999999999TiB", "--json")
    assert result.returncode == 0, result.stderr
    assert _paths(result.stdout) == _paths(_cli(scanned, "ls", "--json").stdout)  # every file is smaller
    result = _cli(scanned, "ls", "time<99999999999999999999h", "--json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    long = _cli(scanned, "ls", " ".join(["benchy"] * 5000))
    assert long.returncode == 1
    assert long.stderr.startswith("Error: query too long") and long.stderr.count("\n") == 1
