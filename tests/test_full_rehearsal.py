"""The `full` profile rehearsed on the CPU, on the test run's backend (TensorFlow under `make test`, JAX under
`make test-jax`), by tests/rehearse_full.py: XLA in force, the recorded precision and flags, finite losses, the
rate dropping on a stalled validation error, a resumed run, the out-of-memory message. And the full data path on
CIFAR-10-sized batch files within a memory budget."""

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np

REHEARSAL = Path(__file__).resolve().parent / "rehearse_full.py"


# On the backend of this test run: `make test` rehearses on TensorFlow, `make test-jax` on JAX.
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def test_full_profile_configuration_rehearsed_on_the_cpu(tmp_path):
    backend = BACKEND
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run(
        [sys.executable, str(REHEARSAL), str(tmp_path)], env=environment, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, f"{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert [line.get("precision") for line in lines[:2]] == {
        "tensorflow": ["mixed_bfloat16", "mixed_float16"],
        "jax": ["mixed_float16", "mixed_bfloat16"],
    }[backend]
    assert [line.get("resumed") for line in lines[:2]] == [True, False]
    assert lines[2] == {"backend": backend, "out_of_memory_message": True}
    print(run.stdout)


def test_full_size_cifar10_batches_load_and_split_in_under_a_gigabyte(tmp_path):
    """Five training batches of 10,000 rows and the test batch, generated in the real file layout, through the
    `full` profile's data path (load, then the 80/20 split and subsets of train())."""
    from alexnet_book.data import load_cifar10, write_python_batches
    from alexnet_book.train import TrainConfig, _select

    rng = np.random.default_rng(0)
    write_python_batches(
        tmp_path,
        rng.integers(0, 256, (50_000, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, 50_000),
        rng.integers(0, 256, (10_000, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, 10_000),
    )
    assert sorted(p.stat().st_size // 1_000_000 for p in tmp_path.iterdir()) == [30] * 6
    tracemalloc.start()
    try:
        data = load_cifar10(tmp_path, profile="full", download=False)
        x_train, y_train, x_val, y_val, test_indices = _select(TrainConfig(profile="full").resolved(), data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data.source == "directory" and x_train.shape == (40_000, 32, 32, 3) and x_val.shape == (10_000, 32, 32, 3)
    assert x_train.dtype == np.uint8 and len(test_indices) == 10_000
    print(f"peak host memory while loading and splitting: {peak / 1e6:,.0f} MB")
    assert peak < 1e9
