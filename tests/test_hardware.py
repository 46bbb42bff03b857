"""alexnet_book.hardware: the dtype policy follows the GPU's compute capability, or on a CPU the backend and the
CPU's bfloat16 units; the yardsticks and rates are timed as alexnet_book.timing times."""

import pytest

from alexnet_book import hardware, timing


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
    monkeypatch.setattr(hardware, "cpu_has_bfloat16_units", lambda: False)
    monkeypatch.setattr(hardware, "gpu_available", lambda: gpu)
    monkeypatch.setattr(hardware, "compute_capability", lambda: capability)
    assert hardware.precision_policy() == expected


def test_no_gpu_never_asks_for_a_capability(monkeypatch):
    def fail():
        raise AssertionError("compute_capability asked on a machine without a GPU")

    monkeypatch.setattr(hardware, "gpu_available", lambda: False)
    monkeypatch.setattr(hardware, "compute_capability", fail)
    monkeypatch.setattr(hardware, "cpu_has_bfloat16_units", lambda: False)
    assert hardware.precision_policy() == "float32"


@pytest.mark.parametrize(
    ("backend", "units", "expected"),
    [
        ("tensorflow", True, "mixed_bfloat16"),  # oneDNN uses AVX512_BF16/AMX: measured faster
        ("tensorflow", False, "float32"),  # no bfloat16 units: emulated, slower
        ("jax", True, "float32"),  # JAX's CPU kernels ran bfloat16 slower even with the units
        ("torch", True, "float32"),  # not measured: the safe choice
    ],
)
def test_cpu_policy_follows_backend_and_units(monkeypatch, backend, units, expected):
    monkeypatch.setattr(hardware, "gpu_available", lambda: False)
    monkeypatch.setattr(hardware, "_backend", lambda: backend)
    monkeypatch.setattr(hardware, "cpu_has_bfloat16_units", lambda: units)
    assert hardware.precision_policy() == expected


def test_cpu_flags_are_read_from_cpuinfo(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(hardware, "Path", lambda _: cpuinfo)
    cpuinfo.write_text("flags\t\t: fpu sse avx512f avx512_vnni\n")
    assert not hardware.cpu_has_bfloat16_units()
    cpuinfo.write_text("flags\t\t: fpu sse avx512f avx512_bf16\n")
    assert hardware.cpu_has_bfloat16_units()
    cpuinfo.write_text("flags\t\t: fpu amx_bf16 amx_tile\n")
    assert hardware.cpu_has_bfloat16_units()
    cpuinfo.unlink()  # macOS, or no /proc
    assert not hardware.cpu_has_bfloat16_units()


def test_seconds_per_call_keeps_the_best_round_and_compiles_untimed(monkeypatch):
    calls, clock = [], iter([0.0, 3.0, 10.0, 11.0, 20.0, 22.0])  # rounds of 3 s, 1 s and 2 s
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))

    def work():
        calls.append(1)
        return 1.0

    assert timing.seconds_per_call(work, repeats=2, rounds=3) == pytest.approx(0.5)
    assert len(calls) == 1 + 3 * 2  # one untimed call, then the rounds
    with pytest.raises(ValueError, match="at least 1"):
        timing.seconds_per_call(work, repeats=0)


def test_peak_matmul_reports_its_best_size_and_a_plausible_rate():
    rate, size = hardware.peak_matmul_flop_per_second("float32", sizes=(64, 128), repeats=2, rounds=2)
    assert size in (64, 128) and 1e6 < rate < 1e15
