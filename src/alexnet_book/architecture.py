"""AlexNet's layers as data, and the shape table they give for an input size.

`PAPER_LAYERS` is the network of the paper (section 3 and figure 2): five convolutions, three max-pools, a flatten
and three dense layers. The model builder (`alexnet_book.model`) and chapter 2 both read this one description,
so the table the book derives and the network it trains cannot drift apart.

Sizes are along one spatial axis: every AlexNet layer is square.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Sequence

from alexnet_book.arithmetic import conv_output_size, pool_output_size
from alexnet_book.checks import check_positive_int
from alexnet_book.tables import text_table

KINDS = ("conv", "pool", "flatten", "dense")


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the network.

    kind: "conv", "pool", "flatten" or "dense".
    units: filters of a conv, units of a dense layer (None for pool and flatten).
    kernel, stride, padding: window size, step and pixels of zero padding on each side (conv and pool).
    groups: 2 where the paper splits a conv between its two GPUs; each half sees only its own GPU's maps.
    lrn: whether local response normalization follows this layer's ReLU in the paper.
    init_bias: the paper's initial bias (1 in conv2, conv4, conv5, fc6 and fc7 "to give ReLUs positive inputs").
    """

    name: str
    kind: str
    units: int | None = None
    kernel: int | None = None
    stride: int | None = None
    padding: int = 0
    groups: int = 1
    lrn: bool = False
    init_bias: float = 0.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"layer {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}.")
        if self.kind in ("conv", "dense") and not self.units:
            raise ValueError(f"layer {self.name!r}: a {self.kind} layer needs units (filters or neurons).")
        if self.kind in ("conv", "pool") and (self.kernel is None or self.stride is None):
            raise ValueError(f"layer {self.name!r}: a {self.kind} layer needs kernel and stride.")


# The paper's network. Padding is the paper's (conv1: none; conv2: 2; conv3-5: 1), groups are the two-GPU split.
PAPER_LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec("conv1", "conv", units=96, kernel=11, stride=4, padding=0, lrn=True),
    LayerSpec("pool1", "pool", kernel=3, stride=2),
    LayerSpec("conv2", "conv", units=256, kernel=5, stride=1, padding=2, groups=2, lrn=True, init_bias=1.0),
    LayerSpec("pool2", "pool", kernel=3, stride=2),
    LayerSpec("conv3", "conv", units=384, kernel=3, stride=1, padding=1),
    LayerSpec("conv4", "conv", units=384, kernel=3, stride=1, padding=1, groups=2, init_bias=1.0),
    LayerSpec("conv5", "conv", units=256, kernel=3, stride=1, padding=1, groups=2, init_bias=1.0),
    LayerSpec("pool5", "pool", kernel=3, stride=2),
    LayerSpec("flatten", "flatten"),
    LayerSpec("fc6", "dense", units=4096, init_bias=1.0),
    LayerSpec("fc7", "dense", units=4096, init_bias=1.0),
    LayerSpec("fc8", "dense", units=1000),
)

PAPER_INPUT_SIZE = 227  # the size that makes conv1's arithmetic whole (the text says 224: see chapter 2)
INPUT_CHANNELS = 3


def alexnet_layers(
    num_classes: int = 1000,
    groups: int | None = None,
    pool_size: int | None = None,
    pool_stride: int | None = None,
    layers: Sequence[LayerSpec] = PAPER_LAYERS,
) -> tuple[LayerSpec, ...]:
    """The paper's layers with the changes the book's variants make.

    num_classes replaces fc8's 1000 units; groups=1 removes the two-GPU split (a single-stream network),
    groups=2 keeps the paper's; pool_size/pool_stride change every max-pool (3/2 is the paper's overlapping
    pooling, 2/2 the traditional kind it compares against). None keeps the paper's value.
    """
    check_positive_int("num_classes", num_classes)
    if groups is not None and groups not in (1, 2):
        raise ValueError(f"groups must be 1 (one stream) or 2 (the paper's two-GPU split), got {groups!r}.")
    for name, value in (("pool_size", pool_size), ("pool_stride", pool_stride)):
        if value is not None:
            check_positive_int(name, value)
    out = []
    last_dense = max(i for i, spec in enumerate(layers) if spec.kind == "dense")
    for i, spec in enumerate(layers):
        if spec.kind == "conv" and groups is not None:
            spec = dataclasses.replace(spec, groups=spec.groups if groups == 2 else 1)
        if spec.kind == "pool":
            spec = dataclasses.replace(
                spec,
                kernel=spec.kernel if pool_size is None else pool_size,
                stride=spec.stride if pool_stride is None else pool_stride,
            )
        if i == last_dense:
            spec = dataclasses.replace(spec, units=num_classes)
        out.append(spec)
    return tuple(out)


@dataclass(frozen=True)
class ShapeRow:
    """One row of the shape table: what goes into a layer, what it does, what comes out, what it costs.

    For conv and pool layers sizes are spatial (input_size x input_size x input_channels in,
    output_size x output_size x output_channels out); for flatten and dense layers input_size and
    output_size are vector lengths and the channel fields are None.
    """

    name: str
    kind: str
    input_size: int
    input_channels: int | None
    kernel: int | None
    stride: int | None
    padding: int | None
    groups: int
    output_size: int
    output_channels: int | None
    parameters: int
    multiply_adds: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.input_channels is None:
            return (self.input_size,)
        return (self.input_size, self.input_size, self.input_channels)

    @property
    def output_shape(self) -> tuple[int, ...]:
        if self.output_channels is None:
            return (self.output_size,)
        return (self.output_size, self.output_size, self.output_channels)

    @property
    def neurons(self) -> int:
        """Output values per image (the paper's figure 2 counts these as 'neurons')."""
        count = 1
        for dim in self.output_shape:
            count *= dim
        return count


def shape_table(
    input_size: int = PAPER_INPUT_SIZE,
    layers: Iterable[LayerSpec] = PAPER_LAYERS,
    input_channels: int = INPUT_CHANNELS,
) -> list[ShapeRow]:
    """Evaluate each layer's output size from the input size, with chapter 1's formulas.

    conv: floor((n + 2p - k) / s) + 1 (`conv_output_size`); pool: the same count of window positions
    (`pool_output_size`); flatten: n * n * channels. Also counts each layer's weights + biases and its
    multiply-adds for one image (a grouped conv sees only channels / groups inputs per filter).
    """
    check_positive_int("input_size", input_size)
    check_positive_int("input_channels", input_channels)
    size, channels = input_size, input_channels  # channels None once the maps are flattened
    rows = []
    for spec in layers:
        row = _ROW_OF_KIND[spec.kind](spec, size, channels)
        rows.append(row)
        size, channels = row.output_size, row.output_channels
    return rows


# The row of each kind of layer, from the size and channels that reach it (channels None: the input is flat).


def _conv_row(spec: LayerSpec, size: int, channels: int | None) -> ShapeRow:
    if channels is None:
        raise ValueError(f"layer {spec.name!r}: a conv cannot follow a flatten or dense layer.")
    _check_divisible(spec, channels)
    out = conv_output_size(size, spec.kernel, spec.stride, spec.padding)
    weights_per_filter = spec.kernel * spec.kernel * channels // spec.groups
    return ShapeRow(
        spec.name,
        spec.kind,
        size,
        channels,
        spec.kernel,
        spec.stride,
        spec.padding,
        spec.groups,
        output_size=out,
        output_channels=spec.units,
        parameters=weights_per_filter * spec.units + spec.units,
        multiply_adds=out * out * spec.units * weights_per_filter,
    )


def _pool_row(spec: LayerSpec, size: int, channels: int | None) -> ShapeRow:
    if channels is None:
        raise ValueError(f"layer {spec.name!r}: a pool cannot follow a flatten or dense layer.")
    out = pool_output_size(size, spec.kernel, spec.stride, spec.padding)
    return ShapeRow(
        spec.name, spec.kind, size, channels, spec.kernel, spec.stride, spec.padding, 1, out, channels, 0, 0
    )


def _flatten_row(spec: LayerSpec, size: int, channels: int | None) -> ShapeRow:
    if channels is None:
        raise ValueError(f"layer {spec.name!r}: the input is already flat.")
    return ShapeRow(spec.name, spec.kind, size, channels, None, None, None, 1, size * size * channels, None, 0, 0)


def _dense_row(spec: LayerSpec, size: int, channels: int | None) -> ShapeRow:
    if channels is not None:
        raise ValueError(f"layer {spec.name!r}: a dense layer needs a flatten before it.")
    parameters = size * spec.units + spec.units
    return ShapeRow(
        spec.name, spec.kind, size, None, None, None, None, 1, spec.units, None, parameters, size * spec.units
    )


_ROW_OF_KIND = {"conv": _conv_row, "pool": _pool_row, "flatten": _flatten_row, "dense": _dense_row}


def format_shape_table(rows: Sequence[ShapeRow]) -> str:
    """The shape table as aligned text: input, filter, stride, padding, output, parameters per layer."""
    header = ("layer", "input", "filter", "stride", "padding", "output", "parameters")
    lines = []
    for row in rows:
        if row.kind == "conv":
            group_note = f" ({row.groups} groups)" if row.groups > 1 else ""
            filt = f"{row.output_channels} x {row.kernel}x{row.kernel}x{row.input_channels // row.groups}{group_note}"
        elif row.kind == "pool":
            filt = f"max {row.kernel}x{row.kernel}"
        elif row.kind == "dense":
            filt = f"{row.output_size} units"
        else:
            filt = "-"
        lines.append(
            (
                row.name,
                " x ".join(str(d) for d in row.input_shape),
                filt,
                "-" if row.stride is None else str(row.stride),
                "-" if row.padding is None else str(row.padding),
                " x ".join(str(d) for d in row.output_shape),
                f"{row.parameters:,}",
            )
        )
    return text_table(header, lines)


def _check_divisible(spec: LayerSpec, channels: int) -> None:
    if channels % spec.groups or spec.units % spec.groups:
        raise ValueError(
            f"layer {spec.name!r}: {channels} input channels and {spec.units} filters cannot be split into "
            f"{spec.groups} groups; both must be divisible by the number of groups."
        )
