"""Draw docs/cli-terminal.png: scan, ls, show and problems run in a real pty (tests/test_problems.py),
rendered with rich's export_svg and screenshotted by headless Chromium:

    .venv/bin/python tests/terminal_picture.py  # then: chromium --headless --screenshot=docs/cli-terminal.png ...
"""
import os, re, shutil, sys
from pathlib import Path
sys.path.insert(0, "tests")
import test_problems as tp
from rich.console import Console
from rich.text import Text

tmp = Path("/tmp/printmanager-terminal-picture"); shutil.rmtree(tmp, ignore_errors=True); tmp.mkdir()
folder = tp.folder.__wrapped__(tmp, Path("/work/shared/corpus"))
# a bigger folder so the bar is seen mid-way
shutil.copytree("/work/shared/corpus/printer-beds", folder / "printer-beds")
env = {**os.environ, "COLUMNS": "118", "TERM": "xterm-256color"}
env.pop("NO_COLOR", None)
lib = str(tmp / "lib")
def pm(*a): return tp._pty_run(["--library", lib, *a], env)
scan = pm("scan", str(folder), "--workers", "1", "--no-thumbnails")
frames = [f for f in re.split(r"[\r\n]", scan) if "Reading" in f]
done = [f for f in frames if re.search(r"\b([1-9]\d*)/(\d+)", f)]
mid = (done[len(done) // 2] if done else frames[-1]) if frames else ""
summary = [l for l in scan.replace("\r", "\n").split("\n") if "added" in l]
short = lambda s: s.replace(str(folder) + "/", "")
parts = [
    "$ printmanager scan ~/prints", mid.strip(), summary[-1] if summary else "",
    "$ printmanager ls sliced OR bunny OR torus", short(pm("ls", "sliced OR bunny OR torus")),
    "$ printmanager show ~/prints/sliced/mini_cube_a.gcode", short(pm("show", str(folder / "sliced" / "mini_cube_a.gcode"))),
    "$ printmanager problems --severity warning", short(pm("problems", "--severity", "warning")),
]
text = re.sub(r"\x1b\[(?:\d*[AK]|\?25[lh])", "", "\n".join(p.rstrip() for p in parts).replace("\r", ""))
open(str(tmp / "term.txt"), "w").write(text)
console = Console(record=True, width=118, force_terminal=True, color_system="truecolor", file=open(os.devnull, "w"))
for line in text.split("\n"):
    console.print(Text.from_ansi(line) if not line.startswith("$ ") else Text(line, style="bold green"))
console.save_svg(str(tmp / "term.svg"), title="printmanager in a terminal")
