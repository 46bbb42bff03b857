"""Small helpers for the chapter notebooks: glue numbers into the prose, and show a visible warning.

`glue` writes the same output that myst-nb's `glue` writes, so the site's `{glue:text}` roles find it,
without needing myst-nb installed (Colab does not have it).
"""

from __future__ import annotations

import html

GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value, display: bool = False) -> None:
    """Store `value` under `name` for the page's `{glue:}` roles and directives (myst-nb's format).

    Strings are stored as plain text, so the page shows them without Python's quotes.
    """
    import IPython
    from IPython.display import display as ipy_display

    if isinstance(value, str):
        bundle, metadata = {"text/plain": value}, {}
    else:
        bundle, metadata = IPython.core.formatters.format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipy_display({prefix + key: data for key, data in bundle.items()}, raw=True, metadata=metadata)


def show_warning(title: str, message: str) -> None:
    """A warning box that shows on the rendered page, in Jupyter and on Colab (plain text elsewhere)."""
    from IPython.display import display as ipy_display

    markup = (
        '<div class="admonition warning"><p class="admonition-title">'
        f"{html.escape(title)}</p><p>{html.escape(message)}</p></div>"
    )
    ipy_display({"text/html": markup, "text/plain": f"WARNING: {title}: {message}"}, raw=True)
