"""What a network's layers produce and what they cost: a d2l-style layer summary and a per-layer cost table.

Backend-neutral Keras 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from alexnet_book.checks import check_positive_int
from alexnet_book.tables import text_table

TRAINING_PASSES = 3  # a training step costs about three forward passes (see CostTable.training_flop_per_image)

FLOAT32_BYTES = 4


@dataclass(frozen=True)
class SummaryRow:
    name: str
    kind: str  # the Keras class, e.g. Conv2D
    output_shape: tuple  # without the batch axis
    parameters: int


class LayerSummary(tuple):
    """The rows of `layer_summary`, one per layer; print it for an aligned table."""

    @property
    def total_parameters(self) -> int:
        return sum(row.parameters for row in self)

    def __str__(self) -> str:
        rows = [(r.name, r.kind, _shape(r.output_shape), f"{r.parameters:,}") for r in self]
        rows.append(("total", "", "", f"{self.total_parameters:,}"))
        return text_table(("layer", "type", "output shape", "parameters"), rows)


def layer_summary(model_or_layers, input_shape: Sequence[int]) -> LayerSummary:
    """Run one dummy image through each layer in turn and record what comes out (like d2l's layer_summary).

    model_or_layers: a Keras model whose layers form a chain (AlexNet does), or a list of layers.
    input_shape: one image's shape, without the batch axis, e.g. (227, 227, 3).
    Layers that are not built yet are built by the dummy image, so this also works on a list of new layers.
    """
    import keras
    from keras import ops

    shape = tuple(input_shape)
    expected = "one image's shape without the batch axis, e.g. (227, 227, 3)"
    if not shape:
        raise ValueError(f"input_shape must be {expected}, got {input_shape!r}.")
    for axis, size in enumerate(shape):
        check_positive_int(f"input_shape[{axis}] ({expected})", size)
    if isinstance(model_or_layers, keras.Model):
        layers = model_or_layers.layers
        dtype = model_or_layers.inputs[0].dtype if model_or_layers.inputs else "float32"
    else:
        layers = list(model_or_layers)
        dtype = "float32"
    x = ops.zeros((1, *shape), dtype=dtype)
    rows = []
    for layer in layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        x = layer(x)
        rows.append(SummaryRow(layer.name, type(layer).__name__, tuple(x.shape[1:]), layer.count_params()))
    return LayerSummary(rows)


@dataclass(frozen=True)
class CostRow:
    name: str
    kind: str
    output_shape: tuple
    parameters: int
    multiply_adds: int  # per image, forward pass
    activation_bytes: int  # this layer's output for the whole batch, float32


class CostTable(tuple):
    """The rows of `cost_table`, with totals; print it for an aligned table."""

    batch_size: int = 0

    def __new__(cls, rows, batch_size: int):
        table = super().__new__(cls, rows)
        table.batch_size = batch_size
        return table

    @property
    def total_parameters(self) -> int:
        return sum(row.parameters for row in self)

    @property
    def total_multiply_adds(self) -> int:
        return sum(row.multiply_adds for row in self)

    @property
    def training_flop_per_image(self) -> int:
        """A training step's arithmetic per image: about three forward passes (the forward pass, then two products
        of the same size per layer backward: the gradients for the input and for the weights), at two
        floating-point operations per multiply-add. Chapter 9 derives it."""
        return TRAINING_PASSES * 2 * self.total_multiply_adds

    @property
    def total_activation_bytes(self) -> int:
        return sum(row.activation_bytes for row in self)

    def row(self, name: str) -> CostRow:
        for row in self:
            if row.name == name:
                return row
        raise KeyError(f"no layer named {name!r}; the layers are {', '.join(r.name for r in self)}.")

    def __str__(self) -> str:
        rows = [
            (
                r.name,
                _shape(r.output_shape),
                f"{r.parameters:,}",
                f"{r.multiply_adds / 1e6:,.1f}",
                f"{r.activation_bytes / 2**20:,.1f}",
            )
            for r in self
        ]
        rows.append(
            (
                "total",
                "",
                f"{self.total_parameters:,}",
                f"{self.total_multiply_adds / 1e6:,.1f}",
                f"{self.total_activation_bytes / 2**20:,.1f}",
            )
        )
        header = (
            "layer",
            "output shape",
            "parameters",
            "M multiply-adds / image",
            f"activations MiB (batch {self.batch_size})",
        )
        return text_table(header, rows)


def cost_table(model, batch_size: int = 128) -> CostTable:
    """Parameters, forward multiply-adds per image and activation memory of each layer of a built Keras model.

    Multiply-adds count only the convolutions and dense layers (pooling, normalization and ReLU do a few
    operations per value, not a dot product): a conv does out_h * out_w * filters * (k_h * k_w * in_channels /
    groups), so a grouped conv counts its real, halved work. Activation memory is each layer's output for
    batch_size images in float32: what a training step keeps for the backward pass.
    """
    import keras

    check_positive_int("batch_size", batch_size)
    if not isinstance(model, keras.Model) or not model.built or not model.inputs:
        raise ValueError("cost_table needs a built Keras model with known inputs, e.g. build_alexnet(...).")
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        in_shape, out_shape = tuple(layer.input.shape[1:]), tuple(layer.output.shape[1:])
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            macs = math.prod(out_shape) * kh * kw * in_shape[-1] // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            macs = math.prod(out_shape) * in_shape[-1]
        else:
            macs = 0
        rows.append(
            CostRow(
                layer.name,
                type(layer).__name__,
                out_shape,
                layer.count_params(),
                macs,
                math.prod(out_shape) * batch_size * FLOAT32_BYTES,
            )
        )
    return CostTable(rows, batch_size)


def _shape(shape: tuple) -> str:
    return " x ".join(str(d) for d in shape)
