"""Fuzzing alexnet_book.data.read_batch: every corrupted batch file is either read as valid-shaped data or refused
with CIFAR10FormatError naming the file and the fix; never another exception, never a crash.

Deterministic (seeded numpy), small batches, a few thousand files: a few seconds. A crash (a segfault in numpy's
own unpickling, a multi-gigabyte memo allocation: what a corrupt pickle can cause) takes pytest down with it, which
is loud enough.
"""

import os
import pickle
import sys
import tempfile
import time

if "keras" not in sys.modules:
    os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="alexnet-book-test-data-fuzz-"))

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_data import a_batch, python2_pickle  # noqa: E402

from alexnet_book.data import CIFAR10FormatError, read_batch, write_python_batches  # noqa: E402

COPIES = 3000
SEED = 12


def valid_files(tmp_path):
    """Valid small batches as every writer we accept writes them: ours (protocol 4), protocols 0, 2 and 5, Python 2."""
    images, labels, batch = a_batch(rows=2, seed=SEED)
    folder = write_python_batches(tmp_path / "written", images, labels, images, labels)
    return {
        "write_python_batches": (folder / "test_batch").read_bytes(),
        "protocol 0": pickle.dumps(batch, protocol=0),
        "protocol 2": pickle.dumps(batch, protocol=2),
        "protocol 5": pickle.dumps(batch, protocol=5),
        "python 2": python2_pickle(batch[b"data"], batch[b"labels"]),
    }


def corrupted(good: bytes, rng: np.random.Generator) -> bytes:
    """One to three of: a bit flip, a random byte, a truncation, inserted bytes, deleted bytes."""
    b = bytearray(good)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(0, 5))
        at = int(rng.integers(0, len(b) + 1))
        if kind == 0 and at < len(b):
            b[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1 and at < len(b):
            b[at] = int(rng.integers(0, 256))
        elif kind == 2:
            del b[at:]
        elif kind == 3:
            b[at:at] = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
        else:
            del b[at : at + int(rng.integers(1, 9))]
    return bytes(b)


def test_every_corrupted_batch_is_read_or_refused_with_a_clear_error(tmp_path):
    goods = valid_files(tmp_path)
    for name, good in goods.items():  # the uncorrupted files all read
        (tmp_path / "data_batch_1").write_bytes(good)
        images, labels = read_batch(tmp_path / "data_batch_1")
        assert images.shape == (2, 32, 32, 3), name
    rng = np.random.default_rng(SEED)
    path = tmp_path / "data_batch_1"
    outcomes = {"read": 0, "refused": 0}
    started = time.perf_counter()
    for i in range(COPIES):
        name = list(goods)[i % len(goods)]
        payload = corrupted(goods[name], rng)
        path.write_bytes(payload)
        try:
            images, labels = read_batch(path)
        except CIFAR10FormatError as error:
            text = str(error)
            assert str(path) in text and "fresh extract" in text and "pickled dict with b'data'" in text, text
            outcomes["refused"] += 1
            continue
        except Exception as error:  # noqa: BLE001 -- the point of the test: say which copy escaped, and how
            pytest.fail(f"copy {i} of the {name} file escaped as {type(error).__name__}: {error}; bytes {payload!r}")
        assert images.dtype == np.uint8 and images.ndim == 4 and images.shape[1:] == (32, 32, 3), (i, name)
        assert labels.dtype == np.int64 and labels.shape == (len(images),), (i, name)
        assert len(labels) == 0 or (labels.min() >= 0 and labels.max() <= 9), (i, name)
        outcomes["read"] += 1
    elapsed = time.perf_counter() - started
    assert outcomes["refused"] > COPIES // 2 and outcomes["read"] > 0, outcomes  # the corruptions do bite
    print(f"{COPIES} corrupted batches in {elapsed:.1f} s: {outcomes}")
