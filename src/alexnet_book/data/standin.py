"""A generated stand-in for CIFAR-10 (smoke and quick profiles only): images of the same shape whose ten classes
are stripes, five directions times two widths, that a network can learn only from spatial features.
"""

from __future__ import annotations

import numpy as np

from alexnet_book.checks import check_positive_int

# The stand-in's classes are stripes (5 directions, wide or narrow), not airplanes and cats: names of their own.
STANDIN_ORIENTATIONS = 5
# Named by the angle of the stripes from the horizontal, as a reader measures it on the page.
STANDIN_CLASS_NAMES = tuple(
    f"{width} {90 - 22.5 * k:g}°" for width in ("wide", "narrow") for k in range(STANDIN_ORIENTATIONS)
)


def make_standin(num_images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generated images of CIFAR-10's shape whose class only spatial features can tell: stripes.

    A class is one of 5 directions of the stripes (90 to 0 degrees from the horizontal, 22.5 apart, jittered)
    times 2 widths (wide: 1.2 to 2 periods across the image, narrow: 3 to 4), on pixel noise. The colours say
    nothing: each image draws a random stripe colour and paints the gaps in about its complement, so the mean colour
    is grey whatever the class and a classifier of colour statistics stays near chance (tests/test_data.py
    measures it). A horizontal flip turns
    67.5 degrees into 112.5, an angle no class has, and a shift keeps angle and width: the usual augmentations never
    turn one class into another. Balanced: the labels cycle through the 10 classes, shuffled.
    """
    check_positive_int("num_images", num_images)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_images) % 10)
    coords = (np.arange(32) - 15.5) / 16.0
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    images = np.empty((num_images, 32, 32, 3), dtype=np.uint8)
    for start in range(0, num_images, 2048):  # in chunks: float32 work arrays stay small
        y = labels[start : start + 2048]
        n = len(y)
        angle = (y % STANDIN_ORIENTATIONS) * (np.pi / 8) + rng.normal(0.0, 0.05, n)
        wide = y < STANDIN_ORIENTATIONS
        periods = np.where(wide, rng.uniform(1.2, 2.0, n), rng.uniform(3.0, 4.0, n))
        phase = rng.uniform(0, 2 * np.pi, n)
        along = xx[None] * np.cos(angle)[:, None, None] + yy[None] * np.sin(angle)[:, None, None]
        stripes = (np.sin(np.pi * periods[:, None, None] * along + phase[:, None, None]) > 0).astype(np.float32)
        foreground = rng.uniform(0, 1, (n, 3))
        background = np.clip(1 - foreground + rng.normal(0.0, 0.1, (n, 3)), 0, 1)
        picture = (
            stripes[..., None] * foreground[:, None, None, :] + (1 - stripes[..., None]) * background[:, None, None, :]
        )
        picture += rng.normal(0.0, 0.12, picture.shape)
        images[start : start + n] = np.clip(picture * 255 + 0.5, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)
