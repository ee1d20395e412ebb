"""The renderer's bounded work: copies of a triangle are drawn once, heavy overdraw is drawn
smaller (never for minutes), and a mesh too costly even at 32 px is refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

from printmanager_thumbnails import render
from printmanager_thumbnails.render import RenderError, Style, View, render_triangles

BIG = np.array([[[0, 0, 0], [100, 0, 0], [0, 100, 10]]], dtype=np.float32)


def test_copies_of_a_triangle_draw_exactly_like_one() -> None:
    many = np.repeat(BIG, 100_000, axis=0)
    basis = View().basis()
    assert render._Cost.of(many, basis, render._bounds(many, basis), 0.06).at(512) > render.MAX_WORK
    assert np.array_equal(np.asarray(render_triangles(many, 256)), np.asarray(render_triangles(BIG, 256)))


def test_heavy_overdraw_is_drawn_smaller_but_drawn() -> None:
    soup = np.random.default_rng(0).uniform(0, 100, size=(20_000, 3, 3)).astype(np.float32)
    basis = View().basis()
    cost = render._Cost.of(soup, basis, render._bounds(soup, basis), 0.06)
    assert render.MIN_CANVAS <= cost.widest(512) < 256  # drawn below the asked size, then scaled up
    img = render_triangles(soup, 256)
    assert img.size == (256, 256) and np.asarray(img)[..., 3].mean() > 100  # mostly covered


def test_too_costly_even_small_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "MAX_WORK", 1000)
    soup = np.random.default_rng(1).uniform(0, 100, size=(2_000, 3, 3)).astype(np.float32)
    with pytest.raises(RenderError, match="too costly to draw"):
        render_triangles(soup, 256)


def test_a_fan_of_slivers_is_linear_not_quadratic() -> None:
    # 200k slivers round a disc: each spans many rows; the per-chunk work used to be over all of them
    n = 200_000
    a = np.linspace(0, 2 * np.pi, n + 1)
    rim = np.stack([50 * np.cos(a), 50 * np.sin(a), np.zeros(n + 1)], axis=1)
    fan = np.stack([np.zeros((n, 3)), rim[:-1], rim[1:]], axis=1).astype(np.float32)
    img = render_triangles(fan, 128, style=Style(supersample=1))
    alpha = np.asarray(img)[..., 3]
    assert alpha[64, 64] == 255 and alpha[0, 0] == 0
