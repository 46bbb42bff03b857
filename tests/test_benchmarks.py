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

FAKE_PEER = '''
RESULTS = {}
CALLS = []
def torch_bench(batch, amp, compile_=False, steps=40, warm=10):
    CALLS.append(("torch", batch, compile_))
    RESULTS[f"torch_b{batch}_{'bf16' if amp else 'fp32'}{'_compile' if compile_ else ''}"] = 400.0 if compile_ else 200.0
def keras_bench(batch, policy, resize_inside=True, steps=40, spe=1):
    CALLS.append(("keras", batch, policy, resize_inside))
    feed = "resize_in_model" if resize_inside else "host_227_float32"
    RESULTS[f"keras_jax_b{batch}_{policy}_{feed}_spe{spe}"] = 100.0 if not resize_inside else 300.0
'''


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("gpu_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_with_a_peer_at_the_same_batch(benchmark, tmp_path, capsys):
    peer = tmp_path / "fake_peer.py"
    peer.write_text(FAKE_PEER)
    out = tmp_path / "figures.json"
    code = benchmark.main(["--images", "320", "--test-images", "32", "--epochs", "2", "--architecture", "tiny",
                           "--peer-script", str(peer), "--json", str(out)])
    assert code == 0
    figures = json.loads(out.read_text())
    book = figures["book_images_per_second"]
    assert book > 0 and figures["batch_size"] == 128 and figures["train_images"] == 256
    assert figures["precision"] == "float32" and figures["projection"] == "measured"
    assert all(key.startswith(("torch_b128", "keras_jax_b128")) for key in figures["peer"])  # the book's batch
    assert figures["ratios"]["book_over_torch_compile"] == pytest.approx(book / 400.0)
    assert figures["ratios"]["book_over_seed_like_feed"] == pytest.approx(book / 100.0)
    first, second = figures["epoch_seconds"]
    scale = 50_000 / 320
    assert figures["projected_50_epoch_cifar10_seconds"] == pytest.approx((first + 49 * second) * scale)
    printed = capsys.readouterr().out
    assert "RESULT book" in printed and "RATIO book_over_torch_compile" in printed and "PROJECTED 50 epochs" in printed


def test_projection_from_a_single_epoch_says_it_overestimates(benchmark):
    seconds, how = benchmark.projected_seconds({"epoch_seconds": [12.0], "warmup": [1]}, 50)
    assert seconds == 600.0 and "overestimate" in how


def test_missing_peer_script_is_a_clear_error(benchmark, tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        benchmark.main(["--peer-script", str(tmp_path / "nowhere.py")])
    assert caught.value.code == 2
    assert "peer_reference.py not found" in capsys.readouterr().err
