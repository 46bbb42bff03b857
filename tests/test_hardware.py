"""alexnet_book.hardware.precision_policy: the dtype policy follows the GPU's compute capability."""

import pytest

from alexnet_book import hardware


@pytest.mark.parametrize(
    ("gpu", "capability", "expected"),
    [
        (False, None, "float32"),  # no GPU: a CPU stays in float32
        (True, (6, 1), "float32"),  # Pascal (GTX 1080): no tensor cores, nothing gained
        (True, (6, 0), "float32"),  # P100
        (True, (7, 0), "mixed_float16"),  # V100: float16 tensor cores
        (True, (7, 5), "mixed_float16"),  # T4 (Colab)
        (True, (8, 0), "mixed_bfloat16"),  # A100: bfloat16
        (True, (9, 0), "mixed_bfloat16"),  # H100
        (True, None, "mixed_float16"),  # a GPU that does not report its capability
    ],
)
def test_precision_policy_follows_compute_capability(monkeypatch, gpu, capability, expected):
    monkeypatch.setattr(hardware, "gpu_available", lambda: gpu)
    monkeypatch.setattr(hardware, "compute_capability", lambda: capability)
    assert hardware.precision_policy() == expected


def test_no_gpu_never_asks_for_a_capability(monkeypatch):
    def fail():
        raise AssertionError("compute_capability asked on a machine without a GPU")

    monkeypatch.setattr(hardware, "gpu_available", lambda: False)
    monkeypatch.setattr(hardware, "compute_capability", fail)
    assert hardware.precision_policy() == "float32"
