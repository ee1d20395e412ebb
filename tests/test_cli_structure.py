"""How the CLI is put together: module-level commands added with ``cli.add_command``, one ``--json``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from printmanager_core.cli import load_commands
from printmanager_core.cli.output import echo_json, json_option

REPO = Path(__file__).resolve().parents[1]
CLI_SOURCES = [*sorted((REPO / "printmanager_core" / "cli").glob("*.py")), *sorted(REPO.glob("plugins/*/cli.py"))]


def _walk(group: click.Group) -> list[click.Command]:
    found: list[click.Command] = []
    for cmd in group.commands.values():
        found.append(cmd)
        if isinstance(cmd, click.Group):
            found.extend(_walk(cmd))
    return found


def test_every_command_is_defined_at_module_level() -> None:
    commands = _walk(load_commands())
    assert len(commands) > 30
    for cmd in commands:
        callback = cmd.callback
        assert callback is not None, cmd.name
        assert "<locals>" not in callback.__qualname__, f"{cmd.name} is defined inside a function"
        module = sys.modules[callback.__module__]
        assert any(value is cmd for value in vars(module).values()), f"{cmd.name} is not a name of {module.__name__}"


def test_no_command_module_adds_commands_from_a_register_function() -> None:
    for path in CLI_SOURCES:
        tree = ast.parse(path.read_text())
        nested = [
            node.name for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef)
            for node in ast.walk(fn) if node is not fn and isinstance(node, ast.FunctionDef)
            and any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                    and d.func.attr in ("command", "group") for d in node.decorator_list)
        ]
        assert not nested, f"{path.relative_to(REPO)}: commands defined inside a function: {nested}"


def test_every_json_option_is_the_shared_one() -> None:
    for cmd in _walk(load_commands()):
        for param in cmd.params:
            if "--json" in getattr(param, "opts", ()):
                assert isinstance(param, click.Option) and param.is_flag and param.name == "as_json", cmd.name
    for path in CLI_SOURCES:
        if path.name == "output.py":
            continue
        text = path.read_text()
        assert "json.dump" not in text, f"{path.relative_to(REPO)} writes JSON itself; use cli.output"
        assert '"--json"' not in text, f"{path.relative_to(REPO)} declares --json itself; use json_option"


def test_json_option_and_echo_json(tmp_path: Path) -> None:
    @click.command()
    @json_option("Print it.")
    def show(as_json: bool) -> None:
        echo_json({"json": as_json, "path": tmp_path})

    result = CliRunner().invoke(show, ["--json"])
    assert result.exit_code == 0 and result.output == f'{{\n  "json": true,\n  "path": "{tmp_path}"\n}}\n'
    assert "--json  Print it." in CliRunner().invoke(show, ["--help"]).output


def test_help_imports_no_library_machinery() -> None:
    # --help lists every command without opening a library or importing the scanner's readers' heavy parts
    code = ("import sys; from printmanager_core.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('printmanager_core.scan', 'rich', 'printmanager_sync.engine') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_core_command_imports_no_other_command(tmp_path: Path) -> None:
    # `printmanager ls` loads the ls command alone: no other core command module, no plugin's CLI
    code = ("import sys; from printmanager_core.cli import main\n"
            "try:\n    main(['--library', sys.argv[1], 'ls'])\nexcept SystemExit:\n    pass\n"
            "names = ('printmanager_core.cli.ls', 'printmanager_core.cli.scan', 'printmanager_core.cli.privacy_cmd',\n"
            "         'printmanager_thumbnails.cli', 'printmanager_sync.cli', 'printmanager_web.cli')\n"
            "print(sorted(m for m in names if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lib")], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['printmanager_core.cli.ls']"
    # and the whole command list is still there for help and for a plugin's command
    assert {"ls", "scan", "sync", "thumbnail", "serve"} <= set(load_commands().commands)
