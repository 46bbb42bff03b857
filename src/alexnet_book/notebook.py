"""Small helpers for the chapter notebooks: the start of a page, its data, gluing numbers into the prose, and a
visible warning.

`glue` writes the same output that myst-nb's `glue` writes, so the site's `{glue:text}` roles find it,
without needing myst-nb installed (Colab does not have it). A phrase in both languages (`bilingual.Phrase`) is glued
twice: `name` in English and `name_ko` in Korean, for the Korean edition, whose chapters share these code cells.
"""

from __future__ import annotations

import html

from alexnet_book.bilingual import Phrase
from alexnet_book.bilingual import counted as counted  # re-exported: the chapters import it from here

GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value, display: bool = False) -> None:
    """Store `value` under `name` for the page's `{glue:}` roles and directives (myst-nb's format).

    Every value is stored as its repr, strings too, as myst-nb's own glue does: myst-nb reads the text back with
    ast.literal_eval, which turns an unquoted "1,000" into the tuple (1, 0) but a quoted one into the string again.
    A Phrase is glued as its English text under `name` and as its Korean text under `name_ko`.
    """
    if isinstance(value, Phrase):
        glue(name + "_ko", value.ko, display)
        value = str(value)
    import IPython
    from IPython.display import display as ipy_display

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


def start_page(profile: str = "auto", seed: int = 42):
    """What every chapter does first: resolve PROFILE (auto -> smoke/quick/full), seed the generators, print the
    versions, backend and devices, and glue the profile's name as "profile". Returns the alexnet_book.profiles.Profile,
    which holds every size the chapter uses.

    On a machine whose NVIDIA GPU the Keras backend cannot use, a warning first says so and how to fix it (as
    `make book` does, which stops there), unless a CPU profile was chosen deliberately."""
    import keras

    from alexnet_book.hardware import describe_environment, unused_gpu_warning
    from alexnet_book.profiles import get_profile

    resolved = get_profile(profile)
    unused_gpu = unused_gpu_warning(profile)
    if unused_gpu:
        show_warning("This machine's GPU is not used", unused_gpu)
    keras.utils.set_random_seed(seed)
    print(describe_environment())
    print("profile:", resolved.name)
    glue("profile", resolved.name)
    return resolved


def load_page_data(data_dir, profile, **options):
    """CIFAR-10 for a chapter (alexnet_book.data.load_cifar10 with the page's DATA_DIR and profile): a visible
    warning on the page where it is the generated stand-in, its description printed with why any earlier source was
    skipped (in one block of output), its source glued in words as "data_source"."""
    from alexnet_book.data import (
        describe_source,
        load_cifar10,
        standin_warning,
    )

    data = load_cifar10(data_dir, profile=profile, **options)
    if data.is_standin:
        show_warning(*standin_warning(data))
    reasons = ["  why: " + note.split(" To get CIFAR-10")[0] for note in data.notes]
    print(f"data: {data.description}", *reasons, sep="\n")
    glue("data_source", describe_source(data.source))
    return data
