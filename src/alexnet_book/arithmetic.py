"""Convolution and pooling arithmetic: output sizes, padding, and receptive fields.

Chapter 1 derives every formula here step by step; later chapters import them from this module.
All sizes are along one spatial axis (AlexNet's layers are square, so one axis says it all).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

from alexnet_book.checks import check_positive_int, check_whole_number

PaddingSpec = int | str


def _explicit_padding(size: int, kernel: int, stride: int, padding: PaddingSpec) -> tuple[int, int]:
    """Pixels added before and after the input along one axis, as (before, after)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            return same_padding(size, kernel, stride)
        raise ValueError(f"padding must be an int, 'valid' or 'same', got {padding!r}.")
    check_whole_number("padding (pixels on each side, or 'valid' or 'same')", padding)
    return padding, padding


def same_padding(size: int, kernel: int, stride: int = 1) -> tuple[int, int]:
    """The padding Keras/TensorFlow add for padding="same", as (before, after).

    "same" promises ceil(size / stride) outputs. The total padding is whatever makes the last window fit;
    when it is odd, TensorFlow puts the extra pixel after (at the bottom/right), not before.
    """
    for name, value in (("size", size), ("kernel", kernel), ("stride", stride)):
        check_positive_int(name, value)
    outputs = -(-size // stride)  # ceil without floats
    total = max((outputs - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_output_size_exact(size: int, kernel: int, stride: int = 1, padding: PaddingSpec = 0) -> Fraction:
    """(size + padding_total - kernel) / stride + 1 before the floor, as an exact fraction.

    A result that is not whole means the last window does not fit exactly: frameworks drop the
    leftover pixels (the floor), which is how 224 with an 11x11 kernel and stride 4 gives 54.25.
    """
    for name, value in (("size", size), ("kernel", kernel), ("stride", stride)):
        check_positive_int(name, value)
    before, after = _explicit_padding(size, kernel, stride, padding)
    return Fraction(size + before + after - kernel, stride) + 1


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: PaddingSpec = 0) -> int:
    """Number of positions where a `kernel`-wide window fits along an axis of `size` pixels.

    padding is an int (pixels added on each side) or Keras's "valid" (none) / "same" (enough for
    ceil(size / stride) outputs). The formula is floor((size + 2 * padding - kernel) / stride) + 1.
    """
    exact = conv_output_size_exact(size, kernel, stride, padding)
    if exact < 1:
        before, after = _explicit_padding(size, kernel, stride, padding)
        raise ValueError(
            f"a kernel of {kernel} does not fit in an input of {size} with padding {before}+{after}: "
            f"use a smaller kernel, more padding, or a larger input."
        )
    return int(exact // 1)  # floor: leftover pixels at the end are dropped


def pool_output_size(size: int, pool: int, stride: int | None = None, padding: PaddingSpec = "valid") -> int:
    """Output size of a pooling window: the same count of positions as a convolution.

    stride defaults to the pool size (non-overlapping pooling, Keras's default); AlexNet's
    overlapping pooling is pool=3, stride=2.
    """
    return conv_output_size(size, pool, pool if stride is None else stride, padding)


@dataclass(frozen=True)
class ReceptiveField:
    """What one output unit of a layer sees in the input image.

    size: input pixels covered by one unit; jump: input pixels between neighbouring units;
    start: input coordinate of the centre of the first unit (negative inside the padding).
    """

    size: int
    jump: int
    start: float


def receptive_fields(layers: Iterable[Sequence]) -> list[ReceptiveField]:
    """Receptive field after each layer of a stack of (kernel, stride[, padding]) layers.

    Each layer widens the field by (kernel - 1) times the spacing of its input units:
    size_out = size_in + (kernel - 1) * jump_in, and the spacing multiplies by the stride.
    """
    size, jump, start = 1, 1, 0.5
    fields = []
    for layer in layers:
        kernel, stride, *rest = layer
        padding = rest[0] if rest else 0
        for name, value in (("kernel", kernel), ("stride", stride)):
            check_positive_int(name, value)
        if isinstance(padding, str):
            raise ValueError("receptive_fields takes explicit integer padding (use same_padding() to get it).")
        start = start + ((kernel - 1) / 2 - padding) * jump
        size = size + (kernel - 1) * jump
        jump = jump * stride
        fields.append(ReceptiveField(size=size, jump=jump, start=start))
    return fields
