"""GPU benchmark figures recorded with their date and card (src/alexnet_book/recorded/*.json).

Pages built without a GPU quote these, never typed numbers. benchmarks/gpu_training.py --json writes a file in
this format (date, card, source, software, runs, and what else it measured); copied into the folder unedited, it
becomes the newest record. `source` names the code in the repository that measured the figures (benchmarks/), so
that a reader can open it and run it again.

Every figure says what it was measured at: each run its batch and precision, and so do the ratios, the
utilization and the projection where a record has them. `software` names the driver, CUDA, JAX and Keras versions;
null says one was not recorded (or, on a CPU, that there was none).
"""

from __future__ import annotations

import json
from importlib import resources

REQUIRED = {"date", "card", "source", "software", "runs"}
RUN_FIELDS = {"name", "framework", "precision", "batch", "images_per_second"}
SOFTWARE = {"driver", "cuda", "jax", "keras"}
MEASURED_AT = {"batch", "precision"}


def check_record(record: dict, name: str) -> dict:
    """The record itself, or a ValueError that names what it lacks."""
    missing = REQUIRED - set(record)
    if missing:
        raise ValueError(f"recorded benchmark {name} lacks {sorted(missing)}: every record needs them.")
    if "benchmarks/" not in record["source"]:
        raise ValueError(
            f"recorded benchmark {name}: its source ({record['source']!r}) must name the code in the repository's "
            "benchmarks/ folder that measured it, so that a reader can open it and run it again."
        )
    if SOFTWARE - set(record["software"]):
        raise ValueError(
            f"recorded benchmark {name} lacks the software versions {sorted(SOFTWARE - set(record['software']))}: "
            "write null for one that was not recorded."
        )
    for run in record["runs"]:
        if RUN_FIELDS - set(run):
            raise ValueError(f"a run of recorded benchmark {name} lacks {sorted(RUN_FIELDS - set(run))}: {run}")
    figures = {f"ratio {ratio}": entry for ratio, entry in record.get("ratios", {}).items()}
    figures.update({key: record[key] for key in ("utilization", "projection") if key in record})
    for figure, entry in figures.items():
        if isinstance(entry, dict) and figure.startswith("ratio"):
            sides = [entry.get("book"), entry.get("peer")]  # a ratio compares two runs: both say theirs
        else:
            sides = [entry]
        if not all(isinstance(side, dict) and MEASURED_AT <= set(side) for side in sides):
            raise ValueError(
                f"the {figure} of recorded benchmark {name} does not say the batch and precision it was measured at: "
                f"{entry}"
            )
    return record


def recorded_gpu_benchmarks() -> list[dict]:
    """Every recorded benchmark file, oldest first (by file name); each has date, card, source and runs."""
    folder = resources.files("alexnet_book") / "recorded"
    entries = sorted((e for e in folder.iterdir() if e.name.endswith(".json")), key=lambda e: e.name)
    return [check_record(json.loads(entry.read_text()), entry.name) for entry in entries]
