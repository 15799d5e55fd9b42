"""Looking inside the shipped network at a digit drawn with the mouse, in headless Chromium."""

import pytest
from playwright.sync_api import Page, expect
from test_browser_draw import DIGITS, READING, draw, open_canvas

from mnist_app.drawing.predict import default_model_path, model_card
from mnist_app.engine.config import RunConfig, layer_plan
from mnist_app.engine.plan import Conv, Pool, layer_names
from mnist_app.i18n import translate

pytestmark = pytest.mark.browser


def loaded_images(page: Page, container: str, count: int) -> list[list[int]]:
    """The natural sizes of the `count` images shown in a container, once the browser has
    finished loading each of them (0 × 0 then: one that failed to load)."""
    page.wait_for_function(
        """([selector, count]) => {
            const images = [...document.querySelectorAll(selector)];
            return images.length === count && images.every((image) => image.complete);
        }""",
        arg=[f"{container} img", count],
        timeout=30_000,
    )
    return page.eval_on_selector_all(
        f"{container} img", "images => images.map(i => [i.naturalWidth, i.naturalHeight])"
    )


def test_the_inside_view_of_a_drawn_digit(page, app_url, tmp_path):
    canvas = open_canvas(page, app_url)
    draw(page, canvas, DIGITS["7"])
    expect(page.locator(READING)).to_have_text("7", timeout=30_000)

    page.locator(".st-key-draw_inside").get_by_text(translate("inside.toggle")).click()
    layers = ".st-key-draw_inside_layers"
    specs = layer_plan(RunConfig(**model_card(default_model_path())["config"]))
    last_conv = [name for name, spec in zip(layer_names(specs), specs, strict=True)
                 if isinstance(spec, Conv)][-1]  # fmt: skip
    expect(page.locator(layers).get_by_text(last_conv)).to_be_visible(timeout=30_000)
    maps = sum(isinstance(spec, Conv | Pool) for spec in specs)  # a picture for each
    sizes = loaded_images(page, layers, maps)
    assert all(width > 100 and height > 10 for width, height in sizes), sizes
    expect(page.locator(f"{layers} .js-plotly-plot")).to_have_count(1)  # the dense layer

    views = page.locator(".st-key-draw_inside_view")
    views.get_by_text(translate("inside.view.saliency")).click()
    saliency = ".st-key-draw_inside_saliency"
    caption = translate("inside.saliency.attribution", digit=7)
    expect(page.locator(saliency).get_by_text(caption)).to_be_visible(timeout=30_000)
    assert loaded_images(page, saliency, 3) == [[224, 224]] * 3
    page.locator(".st-key-draw_saliency_digit button").nth(1).click()
    expect(page.locator(saliency).get_by_text(caption)).to_have_count(0, timeout=30_000)

    views.get_by_text(translate("inside.view.map")).click()
    chart = page.locator(".st-key-draw_inside_map .js-plotly-plot")
    expect(chart).to_be_visible(timeout=60_000)
    expect(chart.get_by_text(translate("inside.map_star"))).to_be_visible()  # in the legend
    page.screenshot(path=tmp_path / "inside-map.png", full_page=True)

    views.get_by_text(translate("inside.view.first")).click()
    first = ".st-key-draw_inside_first"
    expect(page.locator(first).get_by_text(translate("inside.first_conv_caption"))).to_be_visible(
        timeout=30_000
    )
    (filters,) = loaded_images(page, first, 1)  # the 32 filters in one mosaic
    assert filters[0] > 100 and filters[1] > 100, filters
