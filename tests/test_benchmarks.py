"""The GPU benchmarks in their CPU dry modes.

benchmarks/gpu_training.py runs the book's training entry (a tiny network here; the real one runs on a GPU) and the
peers at the same batch and precision, and computes its ratios, utilization and projection from what they measured,
in the record format of src/alexnet_book/recorded/. benchmarks/peers.py, the PyTorch and plain-Keras peers, runs
for real at a small image size: plain Keras on JAX where JAX is installed, PyTorch where PyTorch is (it is no
dependency of the book)."""

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

if "keras" not in sys.modules:
    os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="alexnet-book-test-bench-"))

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "gpu_training.py"
PEERS = REPO / "benchmarks" / "peers.py"
SMALL = ["--batches", "2", "--steps", "1", "--image-size", "67"]  # 67 x 67: the smallest input AlexNet takes


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


@pytest.fixture
def fake_peers(benchmark, monkeypatch):
    """Peers with known rates in place of PyTorch and plain Keras, so that the ratios can be checked; the list of
    their calls shows at which batch and precision the benchmark asked for each."""
    peers, calls = benchmark.peers, []

    def torch_rate(batch, precision="mixed_bfloat16", compiled=False, **sizes):
        calls.append(("torch", batch, precision, compiled))
        return peers.PeerRun(
            f"torch_b{batch}_{'compile' if compiled else 'eager'}",
            "fake PyTorch",
            "pytorch",
            peers.compute_dtype(precision),
            batch,
            400.0 if compiled else 200.0,
        )

    def keras_rate(batch, precision="mixed_bfloat16", resize_inside=True, **sizes):
        calls.append(("keras", batch, precision, resize_inside))
        feed = "resize_in_model" if resize_inside else "host"
        rate = 300.0 if resize_inside else 100.0
        return peers.PeerRun(
            f"keras_b{batch}_{feed}", "fake Keras", "keras", peers.compute_dtype(precision), batch, rate
        )

    monkeypatch.setattr(peers, "torch_training_rate", torch_rate)
    monkeypatch.setattr(peers, "keras_training_rate", keras_rate)
    return calls


def test_dry_run_with_the_peers_at_the_same_batch(benchmark, fake_peers, tmp_path, capsys):
    from alexnet_book.profiles import BY_NAME
    from alexnet_book.recorded_benchmarks import check_record

    out = tmp_path / "figures.json"
    code = benchmark.main(
        ["--images", "320", "--test-images", "32", "--epochs", "2", "--json", str(out), "--matmul-size", "256"]
        + ["--precision", "float32"]  # what a CPU without bfloat16 units gets; the same on every test machine
    )
    assert code == 0
    # the book's batch and precision for its peers; the post's batch and float32 for its feed
    assert fake_peers == [
        ("torch", 128, "float32", False),
        ("torch", 128, "float32", True),
        ("keras", 128, "float32", True),
        ("keras", 32, "float32", False),
    ]
    record = check_record(json.loads(out.read_text()), out.name)  # the recorded format, as saved
    book = record["runs"][0]
    assert book["name"].startswith("the book") and book["images_per_second"] > 0 and book["batch"] == 128
    assert book["precision"] == "float32" and record["book"]["train_images"] == 256
    assert record["book"]["projection"]["how"] == "measured" and record["resume_check"]["passed"]
    assert [run["peer_key"] for run in record["runs"][1:]] == [
        "torch_b128_eager",
        "torch_b128_compile",
        "keras_b128_resize_in_model",
        "keras_b32_host",
    ]
    ratios = record["ratios"]
    assert ratios["book_over_torch_compile"]["value"] == pytest.approx(book["images_per_second"] / 400.0)
    assert ratios["book_over_post_like_feed"]["value"] == pytest.approx(book["images_per_second"] / 100.0)
    assert ratios["book_over_post_like_feed"]["peer"] == {
        "peer_key": "keras_b32_host",
        "name": "fake Keras",
        "batch": 32,
        "precision": "float32",
    }
    assert ratios["book_over_torch_compile"]["book"] == {"batch": 128, "precision": "float32"}
    history = {key: record["book"][key] for key in ("epoch_seconds", "checkpoint_seconds")}
    first, second = history["epoch_seconds"]
    epochs, checkpoint = BY_NAME["full"].training.epochs, sum(history["checkpoint_seconds"]) / 2
    assert record["projection"]["epochs"] == epochs
    assert record["projection"]["seconds"] == pytest.approx(
        (first + (epochs - 1) * second) * 50_000 / 320 + epochs * checkpoint
    )
    assert (record["projection"]["batch"], record["projection"]["precision"]) == (128, "float32")
    utilization = record["utilization"]
    assert utilization["value"] == pytest.approx(
        book["images_per_second"] * record["training_flop_per_image"] / record["matmul"]["flop_per_second"]
    )
    assert (utilization["batch"], utilization["precision"], utilization["matmul_dtype"]) == (128, "float32", "float32")
    software = record["software"]
    assert software["keras"] and software["backend"] and software["driver"] is None and software["cuda"] is None
    assert software["jax"] == (importlib.metadata.version("jax") if importlib.util.find_spec("jax") else None)
    assert record["date"] and record["commit"] and record["peer_failures"] == {}
    assert "benchmarks/peers.py" in record["source"] and "benchmarks/peers.py" in record["what"]
    printed = capsys.readouterr().out
    assert "RESULT book" in printed and "RATIO book_over_torch_compile" in printed
    assert "UTILIZATION" in printed and "PROJECTED full profile" in printed


def test_a_peer_that_cannot_run_is_reported_and_the_others_still_run(benchmark, fake_peers, monkeypatch):
    def no_torch(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'torch'")

    monkeypatch.setattr(benchmark.peers, "torch_training_rate", no_torch)
    runs, failures = benchmark.run_peers(128, "mixed_bfloat16")
    assert set(failures) == {"torch_eager", "torch_compile"} and "No module named 'torch'" in failures["torch_eager"]
    assert set(runs) == {"plain_keras", "post_like_feed"}
    assert runs["plain_keras"]["precision"] == "bfloat16" and runs["post_like_feed"]["precision"] == "float32"


def test_projection_from_a_single_epoch_says_it_overestimates(benchmark):
    history = {"epoch_seconds": [12.0], "warmup": [1], "checkpoint_seconds": [1.0]}
    seconds, how = benchmark.projected_seconds(history, 50)
    assert seconds == 650.0 and "overestimate" in how


def test_cuda_and_cudnn_version_numbers_are_read_as_their_libraries_write_them(benchmark):
    assert benchmark._cuda_version(12080) == "12.8" and benchmark._cuda_version(13000) == "13.0"
    assert benchmark._cudnn_version(90800) == "9.8.0" and benchmark._cudnn_version(8902) == "8.9.2"


def test_driver_and_cuda_versions_are_read_from_nvidia_smi_and_jaxs_cuda_plugin(benchmark, tmp_path, monkeypatch):
    """What a GPU machine answers, played by a fake nvidia-smi and a fake JAX CUDA plugin (no GPU here)."""
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text("#!/bin/sh\necho '580.159.03, 143771 MiB'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{smi.parent}{os.pathsep}{os.environ['PATH']}")
    plugin = tmp_path / "site" / "jax_cuda13_plugin"
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("")
    (plugin / "_versions.py").write_text(
        "def cuda_runtime_get_version(): return 13000\n"
        "def cuda_driver_get_version(): return 13010\n"
        "def cudnn_get_version(): return 91300\n"
    )
    monkeypatch.syspath_prepend(str(plugin.parent))
    monkeypatch.delitem(sys.modules, "jax_cuda13_plugin", raising=False)
    monkeypatch.delitem(sys.modules, "jax_cuda13_plugin._versions", raising=False)
    assert benchmark._nvidia_driver() == {"driver": "580.159.03", "card_memory": "143771 MiB"}
    assert benchmark._jax_cuda() == {
        "jax_cuda_plugin": "jax_cuda13_plugin",  # a plugin without installed metadata: no version to name
        "cuda": "13.0",
        "cuda_supported_by_driver": "13.1",
        "cudnn": "9.13.0",
    }


def test_an_output_folder_holding_another_run_is_refused(benchmark, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep")
    code = benchmark.main(
        ["--images", "64", "--epochs", "2", "--no-peer", "--no-resume-check", "--output-dir", str(folder)]
    )
    assert code == 2 and "holds files of something else" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_an_unknown_precision_is_a_clear_error(benchmark, capsys):
    with pytest.raises(SystemExit) as caught:
        benchmark.main(["--precision", "float64"])
    assert caught.value.code == 2
    assert "--precision must be auto or one of float32, mixed_bfloat16, mixed_float16" in capsys.readouterr().err


# --- benchmarks/peers.py -------------------------------------------------------------------------------------------


def test_the_keras_peer_is_the_seeds_alexnet(benchmark):
    """58,327,818 weights (the post's model with its BatchNormalization), pool5 6 x 6 x 256 at 227."""
    model = benchmark.peers.keras_alexnet()
    assert model.count_params() == 58_327_818
    assert tuple(model.get_layer(index=-7).output.shape) == (None, 6, 6, 256)
    assert benchmark.peers.feature_side(227) == 6 and benchmark.peers.feature_side(67) == 1
    with pytest.raises(ValueError, match="too small for AlexNet"):
        benchmark.peers.feature_side(66)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--precisions", "float64"], "is not one of float32, mixed_bfloat16, mixed_float16"),
        (["--image-size", "66"], "too small for AlexNet"),
        (["--batches", "128,x"], "not a comma-separated list of whole numbers"),
        (["--steps", "0"], "--steps must be at least 1"),
        (["tensorflow"], "unknown framework tensorflow: name torch, keras or both"),
    ],
)
def test_peers_refuse_bad_arguments_with_a_clear_message(benchmark, capsys, arguments, message):
    with pytest.raises(SystemExit) as caught:
        benchmark.peers.main(arguments)
    assert caught.value.code == 2 and message in capsys.readouterr().err


def _run_peers(framework: str, tmp_path: Path, *extra: str) -> dict:
    """benchmarks/peers.py on the CPU at a small size, in its own process (its Keras runs on JAX, whatever backend
    this process runs); the JSON report it wrote."""
    out = tmp_path / "peers.json"
    environment = {**os.environ, "KERAS_BACKEND": "jax"}
    finished = subprocess.run(
        [sys.executable, str(PEERS), framework, *SMALL, *extra, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["failures"] == {}
    for run in report["runs"]:
        assert run["images_per_second"] > 0 and run["peer_key"] in finished.stdout
    return report


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed: the Keras peer runs on JAX")
def test_plain_keras_peer_dry_run_on_jax(tmp_path):
    report = _run_peers("keras", tmp_path, "--precisions", "mixed_bfloat16")
    described = [(run["peer_key"], run["framework"], run["precision"], run["batch"]) for run in report["runs"]]
    assert described == [
        ("keras_jax_b32_float32_host_67_float32_spe1_67px", "keras-jax", "float32", 32),  # the post's feed
        ("keras_jax_b2_mixed_bfloat16_resize_in_model_spe1_67px", "keras-jax", "bfloat16", 2),
    ]


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="PyTorch is not installed (it is no dependency of the book; `pip install torch` runs this dry run)",
)
def test_pytorch_peer_dry_run_eager_and_compiled(benchmark, tmp_path):
    model = benchmark.peers.torch_alexnet()
    buffers = sum(b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))
    assert sum(p.numel() for p in model.parameters()) + buffers == 58_327_818  # as the Keras peer counts them
    # two warm-up steps: torch.compile compiles on the first and again once the optimizer has its momentum
    report = _run_peers("torch", tmp_path, "--warmup", "2")
    described = [(run["peer_key"], run["name"], run["precision"], run["batch"]) for run in report["runs"]]
    assert described == [
        ("torch_b2_bf16_67px", "PyTorch eager, bf16 autocast", "bfloat16", 2),
        ("torch_b2_bf16_compile_67px", "PyTorch torch.compile, bf16 autocast", "bfloat16", 2),
    ]


# --- the records ---------------------------------------------------------------------------------------------------

READERS_FILES = [REPO / "benchmarks", REPO / "src"]  # what a reader's checkout holds of the benchmarks
OUTSIDE_THE_REPOSITORY = re.compile(r"shared/|FACTS\.md")


def test_the_benchmarks_and_records_name_only_files_a_reader_has():
    """The peers and the figures cite code in the repository, never the project's working notes beside it."""
    named = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for folder in READERS_FILES
        for path in sorted(folder.rglob("*"))
        if path.suffix in {".py", ".md", ".json"} and ".egg-info" not in str(path)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if OUTSIDE_THE_REPOSITORY.search(line)
    ]
    assert not named, "\n".join(named)


def test_recorded_peer_figures_cite_the_code_that_measured_them(benchmark):
    """Every run of the recorded peer figures has the key benchmarks/peers.py gives its call, which says its batch,
    its precision and its feed, as the run itself does."""
    from alexnet_book.recorded_benchmarks import recorded_gpu_benchmarks

    short = {"float32": "fp32", "bfloat16": "bf16"}
    for record in recorded_gpu_benchmarks():
        assert "benchmarks/" in record["source"]
        for run in record["runs"]:
            if run["framework"] == "pytorch":
                assert run["peer_key"].startswith(f"torch_b{run['batch']}_{short[run['precision']]}")
                assert run["peer_key"].endswith("_compile") == ("torch.compile" in run["name"])
            elif run["framework"] == "keras-jax":
                policy = "float32" if run["precision"] == "float32" else f"mixed_{run['precision']}"
                assert run["peer_key"].startswith(f"keras_jax_b{run['batch']}_{policy}_")
                assert ("host_227_float32" in run["peer_key"]) == ("the post's feed" in run["name"])


def _a_record(**changes) -> dict:
    record = {
        "date": "2027-01-01",
        "card": "NVIDIA H200",
        "source": "benchmarks/gpu_training.py and benchmarks/peers.py, commit 0123456789ab",
        "software": {"driver": "570.1", "cuda": "12.8", "jax": "0.10.2", "keras": "3.15.1"},
        "runs": [
            {"name": "x", "framework": "pytorch", "precision": "bfloat16", "batch": 128, "images_per_second": 1.0}
        ],
        "ratios": {
            "book_over_torch_compile": {
                "value": 1.0,
                "book": {"batch": 128, "precision": "bfloat16"},
                "peer": {"batch": 128, "precision": "bfloat16"},
            }
        },
        "utilization": {"value": 0.2, "batch": 128, "precision": "bfloat16"},
    }
    record.update(changes)
    return record


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"source": "peer_reference.py in the notes"}, "must name the code in the repository's benchmarks/ folder"),
        ({"software": {"keras": "3.15.1", "jax": "0.10.2"}}, r"lacks the software versions \['cuda', 'driver'\]"),
        (
            {"ratios": {"book_over_torch_compile": {"value": 1.0, "book": {"batch": 128, "precision": "bfloat16"}}}},
            "ratio book_over_torch_compile .* does not say the batch and precision",
        ),
        ({"utilization": 0.2}, "utilization .* does not say the batch and precision"),
        (
            {"runs": [{"name": "x", "framework": "pytorch", "images_per_second": 1.0}]},
            r"lacks \['batch', 'precision'\]",
        ),
    ],
)
def test_a_record_that_does_not_say_what_it_measured_is_refused(changes, message):
    from alexnet_book.recorded_benchmarks import check_record

    assert check_record(_a_record(), "good.json")
    with pytest.raises(ValueError, match=message):
        check_record(_a_record(**changes), "bad.json")
