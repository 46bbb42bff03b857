"""One network on several devices: layouts for keras.distribution, and the programs that run on them.

Chapter 10 splits AlexNet over two devices the way the paper split it over two GTX 580s (half the kernels of
every layer on each), and trains it data-parallel for comparison. This module holds what that needs:

- `layout_rules` and `build_layout_map`: which variable (and, optionally, which layer output) is split along
  which mesh axis, as the `keras.distribution.LayoutMap` that `ModelParallel` takes. Backend-neutral.
- `with_lrn` and `with_grouped_lrn`: a copy of a model with another LRN layer, e.g. the paper's normalization as
  each GPU computed it, over the maps of its own half only (`layers.GroupedLocalResponseNormalization`).
- `compare_losses`: the equivalence check (the same loss, within a tolerance, on every set-up); `crossover_batch`:
  the batch at which two set-ups send the same bytes per step. Backend-neutral.
- JAX only (they say so, and raise a clear error on another backend): `choose_devices`, `loss_and_step`,
  `per_device_forward` (the paper's program written per device, with jax.shard_map), `place`, `compiled_hlo`,
  `bytes_per_device`.

What a compiled program exchanges is read from its text by `alexnet_book.hlo`; a step is timed with
`alexnet_book.timing`.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from alexnet_book.layers import GroupedLocalResponseNormalization, LocalResponseNormalization

_LRN_LAYERS = (LocalResponseNormalization, GroupedLocalResponseNormalization)  # subclasses count too


# --------------------------------------------------------------------------------------------------------------
# Layouts (backend-neutral)


def layout_rules(model, model_axis="model", batch_axis="batch", activations=False) -> dict[str, tuple]:
    """The paper's split as layout rules: for every Conv2D and Dense layer of `model`, the kernel and the bias
    are split along their output channels (the last axis) over the mesh axis `model_axis`, so each device holds
    half of every layer's kernels on a two-device axis. Variables of other layers stay whole on every device.

    With activations=True, the output of every layer whose last axis is channels (convolutions, their LRN and
    pooling, and the dense layers) is also constrained to be split the same way, batch axis over `batch_axis`:
    that tells the compiler where each device's half of the maps must live, as the paper's two GPUs had them.

    Keys are variable paths ("conv2/kernel") and layer-output paths ("conv2/output"), as keras.distribution
    looks them up; values are tuples of mesh axis names (None: not split).
    """
    rules: dict[str, tuple] = {}
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            kernel_rank = len(layer.kernel.shape)
            rules[f"{layer.name}/kernel"] = (None,) * (kernel_rank - 1) + (model_axis,)
            if layer.use_bias:
                rules[f"{layer.name}/bias"] = (model_axis,)
    if activations:
        channel_layers = (
            keras.layers.Conv2D,
            keras.layers.Dense,
            keras.layers.MaxPooling2D,
            keras.layers.Dropout,
            *_LRN_LAYERS,
        )
        started = False
        for layer in model.layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
                started = True
            if not started or not isinstance(layer, channel_layers) or layer.name == _output_layer_name(model):
                continue
            rank = len(layer.output.shape)
            rules[f"{layer.name}/output"] = (batch_axis,) + (None,) * (rank - 2) + (model_axis,)
    return rules


def build_layout_map(model, device_mesh, model_axis="model", batch_axis="batch", activations=False):
    """A keras.distribution.LayoutMap for `device_mesh` holding `layout_rules(model, ...)`.

    Build the distributed model after this, inside `keras.distribution.ModelParallel(layout_map=...).scope()`:
    variables take their layout when they are created. `model` only provides the layer names and shapes
    (e.g. the same network built once on one device).
    """
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for key, axes in layout_rules(model, model_axis, batch_axis, activations).items():
        layout_map[key] = axes
    return layout_map


def _output_layer_name(model) -> str:
    return model.layers[-1].name


# --------------------------------------------------------------------------------------------------------------
# Another LRN in a copy of a model (backend-neutral)


def with_lrn(model, lrn_class, **options):
    """A copy of the functional `model` whose LocalResponseNormalization layers are `lrn_class` layers with the
    same name and constants (depth_radius, bias, alpha, beta) and `options`. The copy has new, freshly initialized
    variables (built in the distribution scope in force, if any): copy the weights over with set_weights."""

    def clone(layer):
        if type(layer) is LocalResponseNormalization:
            constants = {key: getattr(layer, key) for key in ("depth_radius", "bias", "alpha", "beta")}
            return lrn_class(**constants, **options, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=clone)


def with_grouped_lrn(model, groups: int = 2):
    """A copy of `model` that normalizes within `groups` blocks of channels, as the paper's GPUs did
    (`with_lrn` with GroupedLocalResponseNormalization)."""
    return with_lrn(model, GroupedLocalResponseNormalization, groups=groups)


# --------------------------------------------------------------------------------------------------------------
# The equivalence check (backend-neutral)


def compare_losses(losses: dict, reference: str, rtol: float) -> dict[str, float]:
    """Relative difference of every loss in `losses` (name -> a number, or an array of numbers) from
    losses[reference]; raises AssertionError, naming the set-up, when one exceeds rtol."""
    base = np.asarray(losses[reference], dtype="float64")
    differences = {}
    for name, value in losses.items():
        value = np.asarray(value, dtype="float64")
        if value.shape != base.shape:
            raise AssertionError(f"{name}: shape {value.shape} differs from {reference}'s {base.shape}")
        if not np.all(np.isfinite(value)):
            raise AssertionError(f"{name}: the loss is not finite: {value}")
        differences[name] = float(np.max(np.abs(value - base) / np.maximum(np.abs(base), 1e-30)))
        if differences[name] > rtol:
            raise AssertionError(
                f"{name} gives {value}, {reference} gives {base}: relative difference "
                f"{differences[name]:.2e} is above the tolerance {rtol:.0e}"
            )
    return differences


def crossover_batch(fixed_a: float, per_image_a: float, fixed_b: float, per_image_b: float) -> float | None:
    """The batch at which set-ups a and b send the same bytes per step, each sending fixed + per_image * batch,
    or None where the two lines do not cross at a batch above 0 (one of them sends less at every batch)."""
    if per_image_a == per_image_b:
        return None
    batch = (fixed_b - fixed_a) / (per_image_a - per_image_b)
    return batch if batch > 0 else None


# --------------------------------------------------------------------------------------------------------------
# JAX only: compiling a model's loss and training step, and what each device holds


def _require_jax():
    if keras.backend.backend() != "jax":
        raise RuntimeError(
            f"this function needs the JAX backend (Keras is running on {keras.backend.backend()}): set "
            "KERAS_BACKEND=jax before keras is first imported (in a notebook: restart the kernel)."
        )


def loss_and_step(model, distribution=None, learning_rate=0.01):
    """JAX only. Two jitted functions of the model's variables, traced under `distribution` (if any):

    loss(trainable, non_trainable, x, y) -> the mean sparse categorical cross-entropy (inference mode:
        dropout off, so the same weights and batch give the same loss on any device layout);
    step(trainable, non_trainable, x, y) -> (loss, new trainable): one plain SGD step (w - lr * gradient),
        with the gradient of that loss. Its compiled program holds everything one training step exchanges.

    Call them with `[v.value for v in model.trainable_variables]` etc. and a batch placed like the model's.
    """
    _require_jax()
    import jax

    scope = distribution.scope if distribution is not None else contextlib.nullcontext

    def loss(trainable, non_trainable, x, y):
        with scope():
            probabilities, _ = model.stateless_call(trainable, non_trainable, x, training=False)
            return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, probabilities))

    def step(trainable, non_trainable, x, y):
        value, grads = jax.value_and_grad(loss)(trainable, non_trainable, x, y)
        return value, [w - learning_rate * g for w, g in zip(trainable, grads)]

    if distribution is None:
        return jax.jit(loss), jax.jit(step)
    shardings = [v.value.sharding for v in model.trainable_variables]
    # The updated weights keep the layout of the weights (left to itself, XLA may choose another).
    return jax.jit(loss), jax.jit(step, out_shardings=(None, shardings))


def per_device_forward(model, device_mesh, model_axis="model", batch_axis="batch"):
    """JAX only. The model's forward pass (inference mode) written for one device, as the paper's two GPUs ran it,
    and run on every device of `device_mesh` at once with jax.shard_map. Returns a jitted
    function(trainable_values, images) -> probabilities.

    Each device holds the kernels of `layout_rules(model)` (its share of every layer's output channels) and
    computes its share of every layer's maps. A grouped convolution with as many groups as devices on
    `model_axis` reads only the device's own maps; everything else that needs all the maps (a convolution
    with groups=1, a dense layer, flatten, the final softmax) first gathers them from every device
    (jax.lax.all_gather). Normalization, pooling and dropout act on the device's own maps, so LRN normalizes
    within each device's share (GroupedLocalResponseNormalization, as the paper's GPUs did).

    Works for a chain of layers, such as build_alexnet's models without BatchNormalization.
    """
    _require_jax()
    import jax
    from jax.sharding import PartitionSpec

    mesh = device_mesh.backend_mesh
    variables = model.trainable_variables
    rules = layout_rules(model, model_axis, batch_axis)
    missing = [v.path for v in variables if v.path not in rules]
    if missing:
        raise ValueError(f"per_device_forward splits Conv2D and Dense layers only; these variables are not: {missing}")
    devices_on_axis = dict(zip(mesh.axis_names, mesh.devices.shape))[model_axis]
    per_device = jax.shard_map(
        _OneDeviceProgram(model, model_axis, devices_on_axis),
        mesh=mesh,
        in_specs=([PartitionSpec(*rules[v.path]) for v in variables], PartitionSpec(batch_axis)),
        out_specs=PartitionSpec(batch_axis),
        check_vma=False,
    )
    return jax.jit(per_device)


class _OneDeviceProgram:
    """What one device runs inside jax.shard_map for `per_device_forward`: called with the device's share of the
    trainable values (in the model's order) and its images, it returns the probabilities."""

    def __init__(self, model, model_axis: str, devices_on_axis: int):
        self.model, self.model_axis, self.devices_on_axis = model, model_axis, devices_on_axis
        self.position = {v.path: i for i, v in enumerate(model.trainable_variables)}

    def __call__(self, weights, x):
        import jax

        split = False  # does each device hold only its share of the channels of x?
        for layer in self.model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            with jax.named_scope(layer.name):  # names the ops after the layer
                x, split = self.layer(layer, weights, x, split)
        with jax.named_scope(_output_layer_name(self.model)):
            return self.gather(x) if split else x

    def gather(self, tensor):
        """Every device's share of the last axis, on each device."""
        import jax

        return jax.lax.all_gather(tensor, self.model_axis, axis=tensor.ndim - 1, tiled=True)

    def layer(self, layer, weights, x, split):
        """One layer on this device: (its output, whether that output is only this device's share of the channels)."""
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            groups = getattr(layer, "groups", 1)
            if split and groups == 1:
                x, split = self.gather(x), False
            elif split and groups != self.devices_on_axis:
                raise ValueError(
                    f"{layer.name} has {groups} groups for {self.devices_on_axis} devices: "
                    "a grouped layer needs one group per device"
                )
            return self.own_channels(layer, weights, x), True
        if split and isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.Dropout, *_LRN_LAYERS)):
            return layer(x, training=False), True  # each device's own maps
        if split:  # flatten, the softmax, anything else: they need every channel
            x = self.gather(x)
        return layer(x, training=False), False

    def own_channels(self, layer, weights, x):
        """A Conv2D or Dense layer's output channels that this device's share of the kernel and bias computes."""
        kernel = weights[self.position[layer.kernel.path]]
        if isinstance(layer, keras.layers.Conv2D):
            x = keras.ops.conv(
                x, kernel, strides=layer.strides, padding=layer.padding, dilation_rate=layer.dilation_rate
            )
        else:
            x = keras.ops.matmul(x, kernel)
        if layer.use_bias:
            x = x + weights[self.position[layer.bias.path]]
        return layer.activation(x)


def place(values, layouts):
    """JAX only. `values` (arrays) put on the devices as `layouts` (keras.distribution.TensorLayout) say."""
    _require_jax()
    import jax

    return [jax.device_put(value, layout.backend_layout) for value, layout in zip(values, layouts)]


def choose_devices(count: int = 2) -> list[str]:
    """JAX only. `count` devices for a mesh, as Keras names them ("gpu:0", "cpu:1"): accelerators (GPU or TPU)
    where the machine has that many, else CPU devices. A CPU offers several devices only when JAX was started
    with XLA_FLAGS=--xla_force_host_platform_device_count=N (N >= count): set it before jax is imported."""
    _require_jax()
    for kind in ("tpu", "gpu"):
        try:
            found = keras.distribution.list_devices(kind)
        except RuntimeError:  # no such backend on this machine
            continue
        if len(found) >= count:
            return found[:count]
    found = keras.distribution.list_devices("cpu")
    if len(found) < count:
        raise RuntimeError(
            f"found {len(found)} CPU device(s) and fewer than {count} GPUs: set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={count} before jax is first imported "
            "(in a notebook: restart the kernel and run it from the top)."
        )
    return found[:count]


def compiled_hlo(jitted, *args) -> str:
    """JAX only. The HLO text of `jitted` compiled for `args`: what the devices will run, after XLA's SPMD
    partitioner has inserted the collectives."""
    _require_jax()
    return jitted.lower(*args).compile().as_text()


def bytes_per_device(arrays) -> dict[str, int]:
    """JAX only. Bytes of `arrays` (jax.Array, e.g. [v.value for v in model.variables]) held on each device,
    keyed by the device's name: a replicated array counts in full on every device, a sharded one by shard."""
    _require_jax()
    held: dict[str, int] = {}
    for array in arrays:
        for shard in array.addressable_shards:
            key = str(shard.device)
            held[key] = held.get(key, 0) + shard.data.nbytes
    return held
