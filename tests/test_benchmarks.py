"""benchmarks/gpu_training.py in its CPU dry mode: it runs the book's training entry and the peer at the same batch,
and computes its ratios and projection from what they measured (a tiny network here; the real one runs on a GPU)."""

import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

if "keras" not in sys.modules:
    os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="alexnet-book-test-bench-"))

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_training.py"

FAKE_PEER = """
RESULTS = {}
CALLS = []
def torch_bench(batch, amp, compile_=False, steps=40, warm=10):
    CALLS.append(("torch", batch, compile_))
    name = f"torch_b{batch}_{'bf16' if amp else 'fp32'}{'_compile' if compile_ else ''}"
    RESULTS[name] = 400.0 if compile_ else 200.0
def keras_bench(batch, policy, resize_inside=True, steps=40, spe=1):
    CALLS.append(("keras", batch, policy, resize_inside))
    feed = "resize_in_model" if resize_inside else "host_227_float32"
    RESULTS[f"keras_jax_b{batch}_{policy}_{feed}_spe{spe}"] = 100.0 if not resize_inside else 300.0
"""


@pytest.fixture(autouse=True)
def environment_left_alone(monkeypatch):
    """The script sets KERAS_BACKEND (to jax where jax is installed) and other variables for its own process;
    here it runs inside the test process, whose later notebook kernels inherit os.environ: keep its changes out."""
    import keras

    monkeypatch.setenv("KERAS_BACKEND", keras.backend.backend())  # what this process already runs
    for name in ("XLA_PYTHON_CLIENT_PREALLOCATE", "TF_CPP_MIN_LOG_LEVEL"):
        monkeypatch.setenv(name, os.environ.get(name, ""))
        monkeypatch.delenv(name)  # restored to its old value (or absence) after the test


@pytest.fixture(autouse=True)
def tiny_model(monkeypatch):
    """The dry run trains tests/tiny_model.py's small CNN in place of AlexNet (the real one runs on a GPU)."""
    from tiny_model import build_tiny_training_model

    import alexnet_book.train as training

    monkeypatch.setattr(training, "build_training_model", build_tiny_training_model)


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("gpu_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_with_a_peer_at_the_same_batch(benchmark, tmp_path, capsys):
    from alexnet_book.recorded_benchmarks import check_record
    from alexnet_book.train import PROFILE_DEFAULTS

    peer = tmp_path / "fake_peer.py"
    peer.write_text(FAKE_PEER)
    out = tmp_path / "figures.json"
    code = benchmark.main(
        [
            "--images",
            "320",
            "--test-images",
            "32",
            "--epochs",
            "2",
            "--peer-script",
            str(peer),
            "--json",
            str(out),
            "--matmul-size",
            "256",
        ]
    )
    assert code == 0
    record = check_record(json.loads(out.read_text()), out.name)  # the recorded format, as saved
    book = record["runs"][0]
    assert book["name"].startswith("the book") and book["images_per_second"] > 0 and book["batch"] == 128
    assert book["precision"] == "float32" and record["book"]["train_images"] == 256
    assert record["book"]["projection"]["how"] == "measured" and record["resume_check"]["passed"]
    peers = {run["peer_key"]: run for run in record["runs"][1:]}
    assert set(peers) == {
        "torch_b128_fp32_compile",
        "torch_b128_fp32",
        "keras_jax_b128_float32_resize_in_model_spe1",
        "keras_jax_b32_float32_host_227_float32_spe1",
    }  # the book's batch and precision; the seed's
    assert record["ratios"]["book_over_torch_compile"] == pytest.approx(book["images_per_second"] / 400.0)
    assert record["ratios"]["book_over_seed_like_feed"] == pytest.approx(book["images_per_second"] / 100.0)
    history = {key: record["book"][key] for key in ("epoch_seconds", "checkpoint_seconds")}
    first, second = history["epoch_seconds"]
    epochs, checkpoint = PROFILE_DEFAULTS["full"]["epochs"], sum(history["checkpoint_seconds"]) / 2
    assert record["projection"]["epochs"] == epochs
    assert record["projection"]["seconds"] == pytest.approx(
        (first + (epochs - 1) * second) * 50_000 / 320 + epochs * checkpoint
    )
    assert record["utilization"] == pytest.approx(
        book["images_per_second"] * record["training_flop_per_image"] / record["matmul"]["flop_per_second"]
    )
    assert record["date"] and record["commit"] and record["software"]["keras"]
    printed = capsys.readouterr().out
    assert (
        "RESULT book" in printed and "RATIO book_over_torch_compile" in printed and "PROJECTED full profile" in printed
    )


def test_projection_from_a_single_epoch_says_it_overestimates(benchmark):
    history = {"epoch_seconds": [12.0], "warmup": [1], "checkpoint_seconds": [1.0]}
    seconds, how = benchmark.projected_seconds(history, 50)
    assert seconds == 650.0 and "overestimate" in how


def test_an_output_folder_holding_another_run_is_refused(benchmark, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep")
    code = benchmark.main(
        [
            "--images",
            "64",
            "--epochs",
            "2",
            "--no-peer",
            "--no-resume-check",
            "--output-dir",
            str(folder),
        ]
    )
    assert code == 2 and "holds files of something else" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_missing_peer_script_is_a_clear_error(benchmark, tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        benchmark.main(["--peer-script", str(tmp_path / "nowhere.py")])
    assert caught.value.code == 2
    assert "peer_reference.py not found" in capsys.readouterr().err
