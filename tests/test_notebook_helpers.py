"""alexnet_book.notebook: what a chapter glues is what its page shows."""

from __future__ import annotations

import pytest
from myst_nb.core.variables import format_plain_text

from alexnet_book import notebook


@pytest.fixture
def glued(monkeypatch):
    """The text/plain that notebook.glue hands to the page, by name."""
    import IPython.display

    stored = {}

    def capture(bundle, raw=False, metadata=None):
        plain = next(data for key, data in bundle.items() if key.endswith("text/plain"))
        stored[metadata["scrapbook"]["name"]] = plain

    monkeypatch.setattr(IPython.display, "display", capture)
    return stored


@pytest.mark.parametrize(
    "text",
    ["1,000", "0.001, 0.0001", "(here)", "None", "[3]", "it's 'quoted'", "-0.5", "narrow 22.5°", ""],
)
def test_a_glued_string_shows_as_written(glued, text):
    notebook.glue("phrase", text)
    assert format_plain_text(glued["phrase"], "") == text


@pytest.mark.parametrize("value, spec, shown", [(0.5, ".0%", "50%"), (1234567, ",", "1,234,567"), (2.0, ".1f", "2.0")])
def test_a_glued_number_takes_the_page_format(glued, value, spec, shown):
    notebook.glue("number", value)
    assert format_plain_text(glued["number"], spec) == shown


@pytest.mark.parametrize(
    "number, noun, phrase",
    [
        (1, "epoch", "1 epoch"),
        (2, "epoch", "2 epochs"),
        (0, "step", "0 steps"),
        (1000, "all-reduce", "1,000 all-reduces"),
    ],
)
def test_counted_says_the_noun_in_the_right_number(number, noun, phrase):
    assert notebook.counted(number, noun) == phrase
