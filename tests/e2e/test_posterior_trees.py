"""End-to-end: the posterior-trees page in Chromium (click a node -> focus moves; draw an input)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app

NODES_JS = """(i) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[i];
  const t = gd.data.findIndex(tr => tr.name === 'nodes');
  return {trace: t, ids: gd.data[t].customdata};
}"""


def _tree_plot_index(page, timeout_ms: int = 30_000) -> int:
    """Index of the Plotly chart holding the tree; Plotly draws after the page's text (under load,
    seconds later), so wait for it."""
    handle = page.wait_for_function(
        """() => [...document.querySelectorAll('.js-plotly-plot')]
                 .findIndex(p => (p.data || []).some(t => t.name === 'nodes')) + 1""",
        timeout=timeout_ms,
        polling=200,
    )  # index + 1, so that "not yet" (0) keeps waiting and a found index 0 ends the wait
    return int(handle.json_value()) - 1


def _click_node(page, node_id: str) -> None:
    i = _tree_plot_index(page)
    info = page.evaluate(NODES_JS, i)
    k = list(info["ids"]).index(node_id)
    # only the node trace has markers (edges are lines): its points are the plot's only path.point
    point = page.locator(".js-plotly-plot").nth(i).locator(".scatterlayer path.point").nth(k)
    box = point.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(300)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@pytest.mark.slow
def test_clicking_a_node_moves_the_focus(server_url, page):
    page.goto(f"{server_url}/posterior_trees")
    wait_for_app(page, 180_000)  # a cold server imports torch and loads the model first
    assert_no_exception(page)
    page.get_by_text(re.compile(r"^Focused node root")).wait_for()
    page.wait_for_timeout(800)
    screenshot(page, "posterior_trees")
    _click_node(page, "2")
    page.get_by_text(re.compile(r"^Focused node 2: P = ")).wait_for(timeout=30_000)
    wait_for_app(page)
    assert "pt.node=2" in page.url
    _click_node(page, "2-0")
    page.get_by_text(re.compile(r"^Focused node 2-0: P = ")).wait_for(timeout=30_000)
    page.get_by_role("button", name="root", exact=True).click()
    page.get_by_text(re.compile(r"^Focused node root")).wait_for(timeout=30_000)
    assert_no_exception(page)


@pytest.mark.slow
def test_drawing_the_visible_part_gives_a_tree(server_url, page):
    page.goto(f"{server_url}/posterior_trees?pt.src=draw")
    wait_for_app(page, 180_000)
    canvas = None
    for _ in range(120):  # the canvas is drawn in the page, or in the component's iframe on some versions
        for loc in (
            page.locator("canvas.upper-canvas"),
            page.frame_locator("iframe").locator("canvas.upper-canvas"),
        ):
            if loc.count():
                canvas = loc.first
                break
        if canvas is not None:
            break
        page.wait_for_timeout(500)
    assert canvas is not None, "the drawing canvas did not appear"
    canvas.wait_for()
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x0 + 0.55 * w, y0 + 0.72 * h)
    page.mouse.down()
    for t in range(12):  # the bottom of a stroke, like the foot of a 1 or a 7
        page.mouse.move(x0 + (0.55 - 0.01 * t) * w, y0 + (0.72 + 0.02 * t) * h, steps=2)
    page.mouse.up()
    page.get_by_text(re.compile(r"^Tree K=3, d=2 \(9 leaves")).wait_for(timeout=60_000)
    wait_for_app(page)
    assert_no_exception(page)
    page.get_by_text(re.compile(r"^Focused node root")).wait_for()
