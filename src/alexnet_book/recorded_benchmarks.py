"""GPU benchmark figures recorded with their date and card (src/alexnet_book/recorded/*.json).

Pages built without a GPU quote these, never typed numbers. benchmarks/gpu_training.py --json writes a file in
this format (date, card, source, runs, and what else it measured); copied into the folder unedited, it becomes
the newest record.
"""

from __future__ import annotations

import json
from importlib import resources

REQUIRED = {"date", "card", "source", "runs"}
RUN_FIELDS = {"name", "framework", "precision", "batch", "images_per_second"}


def check_record(record: dict, name: str) -> dict:
    """The record itself, or a ValueError that names what it lacks."""
    missing = REQUIRED - set(record)
    if missing:
        raise ValueError(f"recorded benchmark {name} lacks {sorted(missing)}: every record needs them.")
    for run in record["runs"]:
        if RUN_FIELDS - set(run):
            raise ValueError(f"a run of recorded benchmark {name} lacks {sorted(RUN_FIELDS - set(run))}: {run}")
    return record


def recorded_gpu_benchmarks() -> list[dict]:
    """Every recorded benchmark file, oldest first (by file name); each has date, card, source and runs."""
    folder = resources.files("alexnet_book") / "recorded"
    entries = sorted((e for e in folder.iterdir() if e.name.endswith(".json")), key=lambda e: e.name)
    return [check_record(json.loads(entry.read_text()), entry.name) for entry in entries]
