"""What a compiled XLA program exchanges between devices, read from its HLO text (`compiled.as_text()`).

`collectives` lists the collective operations (all-gather, all-reduce, reduce-scatter, collective-permute,
all-to-all) with the bytes each one moves and the layer it belongs to; `communication_table` sums them per layer,
per image or per step; `split_by_batch` separates, from two batch sizes, the bytes that grow with the batch
(activations) from those that do not (weights). `operations` lists any other kind of instruction (e.g. the
convolutions, with the shape each device computes). Plain text parsing: backend-neutral, as the text comes from XLA
whichever framework compiled the program.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

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


def _op_name(rest: str) -> str:
    """The op's full name from an instruction's metadata ('op_name="jit(step)/jvp(conv2)/conv_general_dilated"')."""
    match = re.search(r'op_name="([^"]*)"', rest)
    return match.group(1) if match else ""


def _layer_of(op_name: str, layer_names: set) -> str:
    """The first component of an op's name that is a layer name (JAX names ops inside a layer's scope after it)."""
    return next((part for part in re.split(r"[/()]", op_name) if part in layer_names), "other")


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
        op_name = _op_name(rest)
        found.append(
            Collective(
                op=match.group("op"),
                shapes=tuple(f"{e}[{d}]" for e, d in _SHAPE.findall(match.group("type"))),
                result_bytes=shape_bytes(match.group("type")),
                group_size=_group_size(rest, num_devices),
                layer=_layer_of(op_name, names),
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
        op_name = _op_name(rest)
        groups = re.search(r"feature_group_count=(\d+)", rest)
        shape = _SHAPE.search(match.group("type"))
        found.append(
            {
                "layer": _layer_of(op_name, names),
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
