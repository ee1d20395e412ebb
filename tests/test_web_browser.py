"""A real browser against a real server: Debian's headless Chromium driven by Playwright.

Search, open a model, rotate the 3D preview, edit a tag, download a file. The
screenshots in docs/web.md are taken here (docs/web-*.png).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from printmanager_web.app import create_app
from web_support import make_prints, running, scanned

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: software WebGL (SwiftShader) so the 3D preview draws with no GPU
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]

#: counts the pixels of the preview canvas that differ from its background, and fingerprints them
CANVAS_PIXELS = """() => {
  const source = document.getElementById('preview-canvas');
  const copy = document.createElement('canvas');
  copy.width = source.width; copy.height = source.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(source, 0, 0);
  const data = ctx.getImageData(0, 0, copy.width, copy.height).data;
  let drawn = 0, hash = 0;
  for (let i = 0; i < data.length; i += 4) {
    const background = Math.abs(data[i] - 244) < 6 && Math.abs(data[i + 1] - 244) < 6 && Math.abs(data[i + 2] - 240) < 6;
    if (!background) { drawn += 1; hash = (hash * 31 + data[i] * 7 + data[i + 1] * 3 + data[i + 2] + i) | 0; }
  }
  return { drawn, hash, total: data.length / 4 };
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Iterator[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (.ci/run installs it)"
    base_dir = tmp_path_factory.mktemp("webui")
    prints = make_prints(base_dir / "Prints", corpus)
    lib = scanned(base_dir / "library", prints)
    lib.add_to_collection("Benchy", *{f.model_id for f in lib.files("benchy")})
    for model in lib.models('model:"Benchy multi-part"'):
        lib.update_model(model.id, creator="CreativeTools", licence="CC BY-ND 4.0",
                         source_url="https://www.3dbenchy.com/", notes="The multi-part Benchy: one STL per part.")
        lib.tag_model(model.id, "boat", "calibration")
    with running(create_app(lib)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        yield {"lib": lib, "base": base, "page": page, "problems": problems, "tmp": base_dir}
        context.close()
        browser.close()
    lib.close()


def test_browser_search(site: dict[str, Any]) -> None:
    page, lib = site["page"], site["lib"]
    page.goto(site["base"] + "/")
    page.wait_for_load_state("networkidle")
    assert page.locator("#gallery .card").count() == min(60, lib.count_files(""))
    page.screenshot(path=str(DOCS / "web-gallery.png"))
    page.fill("form.search input[name=q]", "benchy")
    page.press("form.search input[name=q]", "Enter")
    page.wait_for_url("**/?q=benchy")
    ids = sorted(int(x) for x in page.locator("#gallery .card").evaluate_all("cards => cards.map(c => c.dataset.fileId)"))
    assert ids == sorted(f.id for f in lib.files("benchy", limit=60)) and ids
    page.select_option("form.filters select[name=format]", "3mf")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("load")
    cards = page.locator("#gallery .card").count()
    assert cards == len(lib.files("benchy format:3mf", limit=60))
    assert site["problems"] == []


def test_browser_model_page_preview_tag_download(site: dict[str, Any]) -> None:
    page, lib = site["page"], site["lib"]
    stl = max((f for f in lib.files("benchy format:stl") if not f.archive_path), key=lambda f: f.triangles or 0)
    page.goto(site["base"] + "/?q=" + "benchy format:stl")
    page.click(f'#gallery .card[data-file-id="{stl.id}"] a >> nth=0')
    page.wait_for_url(f"**/models/{stl.model_id}*")
    assert page.locator("h1").inner_text() == lib.model(stl.model_id).name
    page.goto(site["base"] + f"/models/{stl.model_id}")  # the top of the page, for the screenshot
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(DOCS / "web-model.png"))

    # the 3D preview of the largest mesh (any format: glTF here), drawn, then rotated by a drag
    mesh = max((f for f in lib.files("triangles>0") if not f.archive_path and not f.error), key=lambda f: f.triangles)
    page.goto(site["base"] + f"/models/{mesh.model_id}")
    page.click(f'button.show-preview[data-file-id="{mesh.id}"]')
    page.wait_for_function("() => window.pmPreview && (window.pmPreview.ready || window.pmPreview.error)",
                           timeout=60000)
    assert page.evaluate("window.pmPreview.error") is None
    assert page.evaluate("window.pmPreview.triangles") == mesh.triangles
    before = page.evaluate(CANVAS_PIXELS)
    assert before["drawn"] > before["total"] * 0.02, before  # the mesh covers part of the canvas
    frames = page.evaluate("window.pmPreview.frames")
    box = page.locator("#preview-canvas").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x + 16 * step, y + 2 * step)
    page.mouse.up()
    assert page.evaluate("window.pmPreview.frames") > frames
    after = page.evaluate(CANVAS_PIXELS)
    assert after["drawn"] > after["total"] * 0.02 and after["hash"] != before["hash"], (before, after)
    page.locator("#preview").screenshot(path=str(DOCS / "web-preview.png"))
    page.goto(site["base"] + f"/models/{stl.model_id}")

    # edit a tag of the file
    box_selector = f'#file-{stl.id} .tags'
    page.fill(f"{box_selector} input[name=tag]", "browser-tagged")
    page.click(f"{box_selector} form.add-tag button")
    page.wait_for_selector(f'{box_selector} .tag:text-is("browser-tagged")')
    assert "browser-tagged" in lib.file(stl.id).tags
    page.click(f'{box_selector} button.untag[data-tag="browser-tagged"]')
    page.wait_for_function(
        f"() => !document.querySelector('{box_selector} button.untag[data-tag=\"browser-tagged\"]')")
    assert "browser-tagged" not in lib.file(stl.id).tags

    # download the file: the same bytes
    with page.expect_download() as info:
        page.click(f"#file-{stl.id} a.download")
    saved = site["tmp"] / "downloaded.stl"
    info.value.save_as(saved)
    assert saved.read_bytes() == Path(stl.path).read_bytes()
    assert info.value.suggested_filename == stl.name
    assert site["problems"] == []
