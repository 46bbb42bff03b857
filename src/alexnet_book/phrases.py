"""Short phrases that depend on a page's numbers, for the sentences around them in the page's markdown.

A verdict computed from numbers belongs in a small tested function that returns a few words; the sentence it
completes stays in the page's prose (and in a translation of it).
"""

from __future__ import annotations


def crossover_phrase(batch: float | None) -> str:
    """`distribution.crossover_batch`'s answer in words: "about 98 images", or "no batch size" where the lines do
    not cross."""
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
