"""GPU benchmark figures recorded with their date and card (src/alexnet_book/recorded/*.json).

Pages built without a GPU quote these, never typed numbers; benchmarks/gpu_training.py --json writes a file
of the same shape (add it to the folder to record a new run).
"""
from __future__ import annotations

import json
from importlib import resources


def recorded_gpu_benchmarks() -> list[dict]:
    """Every recorded benchmark file, oldest first; each has date, card, source and a list of runs."""
    folder = resources.files("alexnet_book") / "recorded"
    records = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            record = json.loads(entry.read_text())
            missing = {"date", "card", "source", "runs"} - set(record)
            if missing:
                raise ValueError(f"recorded benchmark {entry.name} lacks {sorted(missing)}: every record needs them.")
            records.append(record)
    return records
