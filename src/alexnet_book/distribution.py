"""One network on several devices: layouts for keras.distribution, and what the compiled program exchanges.

Chapter 10 splits AlexNet over two devices the way the paper split it over two GTX 580s (half the kernels of
every layer on each), and trains it data-parallel for comparison. This module holds what that needs:

- `layout_rules` and `build_layout_map`: which variable (and, optionally, which layer output) is split along
  which mesh axis, as the `keras.distribution.LayoutMap` that `ModelParallel` takes. Backend-neutral.
- `collectives`, `communication_table` and `split_by_batch`: the collective operations (all-gather, all-reduce,
  reduce-scatter, collective-permute, all-to-all) of a compiled XLA program, read from its HLO text, with the
  bytes each one moves and the layer it belongs to, per image and per step; `operations` lists any other kind
  of instruction (e.g. the convolutions, with the shape each device computes). Plain text parsing,
  backend-neutral (the text comes from XLA).
- `with_lrn` and `with_grouped_lrn`: a copy of a model with another LRN layer, e.g. the paper's normalization as
  each GPU computed it, over the maps of its own half only (`layers.GroupedLocalResponseNormalization`).
- `compare_losses`: the equivalence check (the same loss, within a tolerance, on every set-up); `crossover_batch`:
  the batch at which two set-ups send the same bytes per step. Backend-neutral.
- Short phrases a page glues into its sentences: `describe_devices`, `timing_caveat`, `crossover_phrase`,
  `more_or_less`.
- JAX only (they say so, and raise a clear error on another backend): `choose_devices`, `loss_and_step`,
  `per_device_forward` (the paper's program written per device, with jax.shard_map), `place`, `compiled_hlo`,
  `bytes_per_device`, `time_call`.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

import keras

from alexnet_book.layers import GroupedLocalResponseNormalization, LocalResponseNormalization

_LRN_LAYERS = (LocalResponseNormalization, GroupedLocalResponseNormalization)  # subclasses count too
COLLECTIVE_OPS = ("all-gather", "all-reduce", "reduce-scatter", "collective-permute", "all-to-all")

# Bytes per element of the HLO element types (pred is stored as one byte).
_ELEMENT_BYTES = {
    "pred": 1,
    "s4": 0.5,
    "u4": 0.5,
    "s8": 1,
    "u8": 1,
    "s16": 2,
    "u16": 2,
    "f16": 2,
    "bf16": 2,
    "s32": 4,
    "u32": 4,
    "f32": 4,
    "s64": 8,
    "u64": 8,
    "f64": 8,
    "c64": 8,
    "c128": 16,
}
_SHAPE = re.compile(r"\b([a-z]+[0-9]*(?:e[0-9]m[0-9](?:fn|fnuz|b11fnuz)?)?)\[([0-9,]*)\]")
_INSTRUCTION = re.compile(
    r"^\s*(?:ROOT\s+)?%?(?P<name>[\w.\-]+)\s*=\s*(?P<type>.*?)\s*"
    r"(?P<op>" + "|".join(COLLECTIVE_OPS) + r")(?P<phase>-start|-done)?\((?P<rest>.*)$"
)


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
# Collectives in a compiled program (backend-neutral text parsing)


@dataclass(frozen=True)
class Collective:
    """One collective operation of a compiled XLA program.

    op: "all-gather", "all-reduce", "reduce-scatter", "collective-permute" or "all-to-all".
    shapes: the HLO shapes it produces on one device, e.g. ("f32[2,27,27,96]",).
    result_bytes: bytes of what it produces on one device.
    group_size: devices in each of its groups (the peers that exchange data); for a collective-permute, the
        devices that appear in its source -> target pairs.
    layer: the layer it belongs to (the first component of the op's name that is a layer name), or "other".
    backward: True when it is part of the gradient computation (JAX names those ops "transpose(...)").
    op_name: the op's full name from the program's metadata.
    pairs: for a collective-permute, how many source -> target pairs it has (each source sends its R bytes).
    """

    op: str
    shapes: tuple
    result_bytes: int
    group_size: int
    layer: str
    backward: bool
    op_name: str
    pairs: int = 0

    @property
    def bytes_sent(self) -> float:
        """Bytes each device sends for this op, with the usual ring algorithms (n = group size, R = result):
        all-gather R (n-1)/n; all-reduce 2 R (n-1)/n (a reduce-scatter, then an all-gather); reduce-scatter
        R (n-1) (R is one device's share); all-to-all R (n-1)/n; collective-permute R per pair, averaged over
        its n devices (a halo exchange between two devices is often two permutes of one pair each: each device
        sends R once). An estimate of the traffic, not a measurement: libraries choose other algorithms at other
        sizes."""
        n, r = self.group_size, self.result_bytes
        if n <= 1:
            return 0.0
        if self.op == "collective-permute" and self.pairs:
            return r * self.pairs / n
        return {
            "all-gather": r * (n - 1) / n,
            "all-reduce": 2 * r * (n - 1) / n,
            "reduce-scatter": r * (n - 1),
            "all-to-all": r * (n - 1) / n,
            "collective-permute": r,
        }[self.op]


def shape_bytes(shape_text: str) -> int:
    """Bytes of every array shape in an HLO type such as "f32[2,3]{1,0}" or "(f32[4]{0}, bf16[2,2]{1,0})"."""
    total = 0.0
    for element, dims in _SHAPE.findall(shape_text):
        if element not in _ELEMENT_BYTES:
            if element.startswith("f8"):
                size = 1
            else:
                continue  # token[] and the like carry no data
        else:
            size = _ELEMENT_BYTES[element]
        total += size * math.prod(int(d) for d in dims.split(",") if d)
    return int(total)


def _group_size(rest: str, default: int) -> int:
    """Devices per group, from an instruction's replica_groups in any of XLA's notations."""
    mesh_form = re.search(r"replica_groups=mesh\[([^\]]*)\]\s*\{([^}]*)\}", rest)
    if mesh_form:
        sizes = dict(re.findall(r"'([^']+)'=(\d+)", mesh_form.group(1)))
        axes = re.findall(r"'([^']+)'", mesh_form.group(2))
        return math.prod(int(sizes[a]) for a in axes) if axes else default
    iota = re.search(r"replica_groups=\[(\d+),(\d+)\]<=", rest)
    if iota:
        return int(iota.group(2))
    listed = re.search(r"replica_groups=\{\{([^}]*)\}", rest)
    if listed:
        return len([d for d in listed.group(1).split(",") if d.strip()])
    pairs = _permute_pairs(rest)
    if pairs:
        return len({device for pair in pairs for device in pair})
    return default


def _permute_pairs(rest: str) -> list[tuple[int, int]]:
    """The source -> target pairs of a collective-permute ("source_target_pairs={{0,1},{1,0}}"), or []."""
    listed = re.search(r"source_target_pairs=\{((?:\{\d+,\d+\},?)*)\}", rest)
    if not listed:
        return []
    return [(int(a), int(b)) for a, b in re.findall(r"\{(\d+),(\d+)\}", listed.group(1))]


def collectives(hlo_text: str, layer_names=(), num_devices: int = 2) -> list[Collective]:
    """Every collective operation in the HLO text of a compiled program (`compiled.as_text()`).

    Asynchronous pairs (all-gather-start / all-gather-done, as GPUs compile them) count once, with the shape
    of the -done op. `layer_names` (e.g. `[layer.name for layer in model.layers]`) lets each op be attributed
    to the layer whose computation needs it, read from the op's metadata; `num_devices` is the group size
    assumed where the program does not list its groups.
    """
    names = set(layer_names)
    found = []
    started = {}  # an asynchronous op's -start, by name: its groups and metadata are there
    for line in hlo_text.splitlines():
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        rest = match.group("rest")
        if match.group("phase") == "-start":
            started[match.group("name")] = rest
            continue
        if match.group("phase") == "-done":
            operand = re.match(r"\s*%?([\w.\-]+)", rest)
            rest = started.get(operand.group(1), "") + " " + rest if operand else rest
        op_name_match = re.search(r'op_name="([^"]*)"', rest)
        op_name = op_name_match.group(1) if op_name_match else ""
        layer = next((part for part in re.split(r"[/()]", op_name) if part in names), "other")
        found.append(
            Collective(
                op=match.group("op"),
                shapes=tuple(f"{e}[{d}]" for e, d in _SHAPE.findall(match.group("type"))),
                result_bytes=shape_bytes(match.group("type")),
                group_size=_group_size(rest, num_devices),
                layer=layer,
                backward="transpose(" in op_name,
                op_name=op_name,
                pairs=len(_permute_pairs(rest)),
            )
        )
    return found


def operations(hlo_text: str, opcode: str, layer_names=()) -> list[dict]:
    """Every instruction `opcode` (e.g. "convolution") of a compiled program: {"layer", "shape" (what one
    device computes), "feature_group_count", "backward"}, attributed to layers as in `collectives`."""
    names = set(layer_names)
    pattern = re.compile(r"=\s*(?P<type>\S+)\s+" + re.escape(opcode) + r"\((?P<rest>.*)$")
    found = []
    for line in hlo_text.splitlines():
        match = pattern.search(line)
        if not match:
            continue
        rest = match.group("rest")
        op_name_match = re.search(r'op_name="([^"]*)"', rest)
        op_name = op_name_match.group(1) if op_name_match else ""
        groups = re.search(r"feature_group_count=(\d+)", rest)
        shape = _SHAPE.search(match.group("type"))
        found.append(
            {
                "layer": next((part for part in re.split(r"[/()]", op_name) if part in names), "other"),
                "shape": f"{shape.group(1)}[{shape.group(2)}]" if shape else match.group("type"),
                "feature_group_count": int(groups.group(1)) if groups else 1,
                "backward": "transpose(" in op_name,
            }
        )
    return found


def communication_table(found, per=1) -> dict[str, dict]:
    """Per layer, in the order the layers first appear: {"ops": count, "kinds": sorted op kinds,
    "bytes": bytes each device sends / per}. Pass per=batch size for bytes per image."""
    table: dict[str, dict] = {}
    for op in found:
        row = table.setdefault(op.layer, {"ops": 0, "kinds": set(), "bytes": 0.0})
        row["ops"] += 1
        row["kinds"].add(op.op)
        row["bytes"] += op.bytes_sent / per
    for row in table.values():
        row["kinds"] = sorted(row["kinds"])
    return table


def split_by_batch(small: dict, large: dict, small_batch: int, large_batch: int) -> dict[str, dict]:
    """Two `communication_table`s (per=1) of the same program compiled for two batch sizes, split per layer into
    what grows with the batch ("per_image": activations) and what does not ("per_step": weights):
    bytes = per_step + per_image * batch. Also "ops" and "kinds", from the larger program."""
    table = {}
    for layer in list(small) + [name for name in large if name not in small]:
        a = small.get(layer, {"bytes": 0.0})["bytes"]
        b = large.get(layer, {"bytes": 0.0})["bytes"]
        per_image = (b - a) / (large_batch - small_batch)
        row = large.get(layer) or small[layer]
        table[layer] = {
            "ops": row["ops"],
            "kinds": row["kinds"],
            "per_image": per_image,
            "per_step": a - per_image * small_batch,
        }
    return table


# --------------------------------------------------------------------------------------------------------------
# The equivalence check (backend-neutral)


def compare_losses(losses: dict, reference: str, rtol: float) -> dict[str, float]:
    """Relative difference of every loss in `losses` (name -> a number, or an array of numbers) from
    losses[reference]; raises AssertionError, naming the set-up, when one exceeds rtol."""
    import numpy as np

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
# Short phrases for the pages (the sentence around them is the page's)


def crossover_phrase(batch: float | None) -> str:
    """`crossover_batch`'s answer in words: "about 98 images", or "no batch size" where the lines do not cross."""
    return "no batch size" if batch is None else f"about {batch:,.0f} images"


def more_or_less(a: float, b: float) -> str:
    """How a compares with b, for "a sends ... b": "more than", "less than" or "as much as"."""
    return "more than" if a > b else "less than" if a < b else "as much as"


def describe_devices(devices) -> str:
    """What the mesh's devices are ("cpu:0", "gpu:1", as Keras names them): "two virtual CPU devices that share
    one CPU's cores", "two GPUs", "two TPUs"."""
    kinds = {name.split(":")[0] for name in devices}
    count = {1: "one", 2: "two", 4: "four", 8: "eight"}.get(len(devices), str(len(devices)))
    if kinds == {"cpu"}:
        return f"{count} virtual CPU devices that share one CPU's cores"
    return f"{count} {'/'.join(sorted(kinds)).upper()}s"


def timing_caveat(devices) -> str:
    """What a step time measured on `devices` can say: on CPU devices, which share one processor, it compares the
    programs' overheads (copies, work done twice), not what separate accelerators would gain."""
    if all(name.startswith("cpu") for name in devices):
        return "the times compare the programs' overheads on one processor, not what two GPUs would gain"
    return "the times include the transfers between them"


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
    import contextlib

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
    devices_on_axis = dict(zip(mesh.axis_names, mesh.devices.shape))[model_axis]
    variables = model.trainable_variables
    rules = layout_rules(model, model_axis, batch_axis)
    missing = [v.path for v in variables if v.path not in rules]
    if missing:
        raise ValueError(f"per_device_forward splits Conv2D and Dense layers only; these variables are not: {missing}")
    specs = [PartitionSpec(*rules[v.path]) for v in variables]
    position = {v.path: i for i, v in enumerate(variables)}
    final = _output_layer_name(model)

    def gather(tensor):
        return jax.lax.all_gather(tensor, model_axis, axis=tensor.ndim - 1, tiled=True)

    def body(weights, x):
        split = False  # does each device hold only its share of the channels of x?
        for layer in model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            with jax.named_scope(layer.name):  # names the ops after the layer
                x, split = one_layer(layer, weights, x, split)
        with jax.named_scope(final):
            return gather(x) if split else x

    def one_layer(layer, weights, x, split):
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            groups = getattr(layer, "groups", 1)
            if split and groups == 1:
                x, split = gather(x), False
            elif split and groups != devices_on_axis:
                raise ValueError(
                    f"{layer.name} has {groups} groups for {devices_on_axis} devices: "
                    "a grouped layer needs one group per device"
                )
            kernel = weights[position[layer.kernel.path]]
            if isinstance(layer, keras.layers.Conv2D):
                x = keras.ops.conv(
                    x, kernel, strides=layer.strides, padding=layer.padding, dilation_rate=layer.dilation_rate
                )
            else:
                x = keras.ops.matmul(x, kernel)
            if layer.use_bias:
                x = x + weights[position[layer.bias.path]]
            return layer.activation(x), True
        if split and isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.Dropout, *_LRN_LAYERS)):
            return layer(x, training=False), True  # each device's own maps
        if split:  # flatten, the softmax, anything else: they need every channel
            x = gather(x)
        return layer(x, training=False), False

    per_device = jax.shard_map(
        body,
        mesh=mesh,
        in_specs=(specs, PartitionSpec(batch_axis)),
        out_specs=PartitionSpec(batch_axis),
        check_vma=False,
    )
    return jax.jit(per_device)


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


def time_call(function, *args, repeats=3) -> float:
    """JAX only. Seconds per call of `function(*args)` after one untimed call (which compiles it): the calls
    are queued back to back and the clock stops once the last result is ready."""
    _require_jax()
    import jax

    jax.block_until_ready(function(*args))
    started = time.perf_counter()
    result = None
    for _ in range(repeats):
        result = function(*args)
    jax.block_until_ready(result)
    return (time.perf_counter() - started) / repeats
