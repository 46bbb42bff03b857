"""GPU check of the book's training: its own entry point (alexnet_book.train.train) with the full profile's model,
batch, precision and XLA, on synthetic 32x32 uint8 images, and shared/bench/peer_reference.py beside it in the same
process, on the same card, at the same batch and precision.

Prints the book's training images per second (no per-step host synchronization: train() has no per-batch
callback), the ratios book / torch.compile and book / the seed-like feed (the same network in plain Keras fed
host-resized 227x227 float32 images at the seed's batch of 32), the utilization (achieved FLOP/s over the card's
matrix-product rate, measured here), what the per-epoch checkpoint costs, the projected time of the full
profile's whole run on CIFAR-10's 40,000 / 10,000 split, and whether a run interrupted after an epoch resumes.
--json writes all of it in the format of src/alexnet_book/recorded/: copy the file there, unedited, to record it.

On a GPU machine (JAX backend; see shared/bench/README.md for installing keras, namex and optree there):
    KERAS_BACKEND=jax PYTHONPATH=src python benchmarks/gpu_training.py --json $OUT/gpu_training.json
Dry run on a CPU (no GPU, no peer; checks that everything runs):
    KERAS_BACKEND=tensorflow python benchmarks/gpu_training.py --images 256 --epochs 2 --no-peer
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
PEER_CANDIDATES = [
    REPO_ROOT / "shared" / "bench" / "peer_reference.py",
    REPO_ROOT.parent / "shared" / "bench" / "peer_reference.py",
]
SEED_BATCH = 32  # the seed's batch size, at which its feed is measured


def _prepare_environment() -> None:
    """Before keras is imported: JAX where it is installed (the GPU machines have no TensorFlow), and no memory
    preallocation, so that PyTorch gets its share of the card in the same process."""
    if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("jax") is not None:
        os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if importlib.util.find_spec("alexnet_book") is None:  # run from a checkout without installing the package
        sys.path.insert(0, str(REPO_ROOT / "src"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--images", type=int, default=50_000, help="synthetic training images (default: CIFAR-10's 50,000)"
    )
    parser.add_argument("--test-images", type=int, default=1_000, help="synthetic test images (default: 1,000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs (default: 3; the first one compiles)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the full profile's (the paper's 128)")
    parser.add_argument("--precision", default="auto", help="dtype policy (default: auto, by hardware)")
    parser.add_argument("--no-peer", action="store_true", help="skip the PyTorch and plain-Keras peer figures")
    parser.add_argument("--no-resume-check", action="store_true", help="skip the interrupted-and-resumed run")
    parser.add_argument("--peer-script", type=Path, default=None, help="path of shared/bench/peer_reference.py")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="keep the run folder here (default: a temporary one, removed); never replaces another "
        "run there unless --overwrite",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a run with other settings in --output-dir")
    parser.add_argument(
        "--matmul-size",
        type=int,
        default=None,
        help="side of the timed matrix product (default: 8192 on a GPU, 1024 on a CPU)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the record (src/alexnet_book/recorded/ format)")
    return parser


def _check(args, parser) -> None:
    for name in ("images", "test_images", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.images < 5:
        parser.error("--images must be at least 5 (a fifth of them becomes the validation set)")
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch compiles, the rate is measured after it")
    if not args.no_peer:
        candidates = [args.peer_script] if args.peer_script else PEER_CANDIDATES
        found = [path for path in candidates if path and path.is_file()]
        if not found:
            parser.error(
                f"peer_reference.py not found (looked at {', '.join(map(str, candidates))}): "
                "pass --peer-script PATH, or --no-peer"
            )
        args.peer_script = found[0]


def synthetic_cifar(train_images: int, test_images: int, seed: int = 0):
    """Random uint8 images in the shape of CIFAR-10, wrapped like loaded data (the content does not change timing)."""
    import numpy as np

    from alexnet_book.data import CIFAR10

    rng = np.random.default_rng(seed)
    return CIFAR10(
        rng.integers(0, 256, (train_images, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, train_images),
        rng.integers(0, 256, (test_images, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, test_images),
        source="standin",
        description=f"{train_images:,} random uint8 32x32 images, for timing only",
    )


def projected_seconds(history: dict, epochs: int, data_scale: float = 1.0) -> tuple[float, str]:
    """Time of an `epochs`-epoch run: the first (compiling) epoch once, then the mean of the others, each with
    its checkpoint. data_scale stretches the training and validation time to another number of images."""
    seconds, warmup = history["epoch_seconds"], history["warmup"]
    checkpoint = sum(history["checkpoint_seconds"]) / len(history["checkpoint_seconds"])
    first = [s for s, w in zip(seconds, warmup) if w]
    steady = [s for s, w in zip(seconds, warmup) if not w]
    if steady:
        epoch = sum(steady) / len(steady)
        return ((first[0] if first else epoch) + (epochs - 1) * epoch) * data_scale + epochs * checkpoint, "measured"
    return epochs * (
        seconds[0] * data_scale + checkpoint
    ), "from the first epoch only, compile included: an overestimate"


def run_book(args) -> dict:
    """The book's own training entry at the full profile on synthetic data; figures from its history."""
    import keras

    from alexnet_book.train import PROFILE_DEFAULTS, TrainConfig, train

    folder = args.output_dir or Path(tempfile.mkdtemp(prefix="alexnet-book-bench-"))
    batch = args.batch_size or PROFILE_DEFAULTS["full"]["batch_size"]
    config = TrainConfig(
        profile="full",
        epochs=args.epochs,
        batch_size=batch,
        precision=args.precision,
        output_dir=str(folder),
        download=False,
        verbose=0,
        overwrite=args.overwrite,
    )
    try:
        result = train(config, data=synthetic_cifar(args.images, args.test_images))
    finally:
        if args.output_dir is None:
            shutil.rmtree(folder, ignore_errors=True)  # a full AlexNet run folder is about a gigabyte
    epochs = PROFILE_DEFAULTS["full"]["epochs"]
    # the same run on CIFAR-10: as many training and validation images per epoch if all 50,000 are used
    projected, how = projected_seconds(result.history, epochs, data_scale=50_000 / args.images)
    checkpoint = result.history["checkpoint_seconds"]
    figures = {
        "images_per_second": result.images_per_second,
        "batch": batch,
        "precision": result.precision,
        "jit_compile": result.jit_compile,
        "loss_scaling": result.loss_scaling,
        "device": result.device,
        "backend": keras.backend.backend(),
        "train_images": result.train_images,
        "epoch_seconds": result.history["epoch_seconds"],
        "checkpoint_seconds": checkpoint,
        "projection": {
            "epochs": epochs,
            "images": "40,000 training + 10,000 validation per epoch",
            "seconds": projected,
            "how": how,
        },
    }
    print(
        f"RESULT book (alexnet_book.train, full profile): {result.images_per_second:,.0f} training images/s, "
        f"batch {batch}, {result.precision}, XLA {'on' if result.jit_compile else 'OFF'}, {result.device}; "
        f"checkpoint {sum(checkpoint) / len(checkpoint):.2f} s per epoch",
        flush=True,
    )
    return figures


def resume_check(args) -> dict:
    """A short full-profile run interrupted right after it committed its first epoch, then run again."""
    import alexnet_book.train as training

    folder = Path(tempfile.mkdtemp(prefix="alexnet-book-resume-"))
    config = training.TrainConfig(
        profile="full",
        epochs=2,
        batch_size=args.batch_size or 128,
        precision=args.precision,
        train_size=None,
        output_dir=str(folder / "run"),
        download=False,
        verbose=0,
    )
    data = synthetic_cifar(min(args.images, 2_560), min(args.test_images, 256))
    original = training.EpochCommit.commit

    def interrupt(self, state):
        original(self, state)
        raise KeyboardInterrupt("benchmark: interrupted after the first committed epoch")

    try:
        training.EpochCommit.commit = interrupt
        try:
            training.train(config, data=data)
        except KeyboardInterrupt:
            pass
        finally:
            training.EpochCommit.commit = original
        result = training.train(config, data=data)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    check = {
        "resumed_from_epoch": result.resumed_from_epoch,
        "epochs": result.history["epoch"],
        "passed": result.resumed_from_epoch == 1 and result.history["epoch"] == [0, 1],
    }
    print(f"RESUME {'passed' if check['passed'] else 'FAILED'}: {check}", flush=True)
    return check


PEER_RUNS = {  # peer_reference.py's result names -> how the record describes them
    "torch_b{batch}_{torch}_compile": ("PyTorch torch.compile, {torch} autocast", "pytorch"),
    "torch_b{batch}_{torch}": ("PyTorch eager, {torch} autocast", "pytorch"),
    "keras_jax_b{batch}_{policy}_resize_in_model_spe1": (
        "Keras on JAX, {policy}, resize inside the model",
        "keras-jax",
    ),
    f"keras_jax_b{SEED_BATCH}_float32_host_227_float32_spe1": (
        "Keras on JAX, float32, host-resized 227x227 float32 input (the seed's feed)",
        "keras-jax",
    ),
}


def run_peer(script: Path, batch: int, policy: str) -> dict:
    """peer_reference.py's benchmarks at the book's batch and precision (torch eager and compiled, plain Keras
    with the resize inside the model), and the seed-like feed at the seed's batch, in float32 as the seed."""
    spec = importlib.util.spec_from_file_location("peer_reference", script)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    amp = policy.startswith("mixed")
    runs = [
        ("torch eager", lambda: peer.torch_bench(batch, amp=amp)),
        ("torch.compile", lambda: peer.torch_bench(batch, amp=amp, compile_=True)),
        ("keras resize-in-model", lambda: peer.keras_bench(batch, policy)),
        ("keras seed-like host float32", lambda: peer.keras_bench(SEED_BATCH, "float32", resize_inside=False)),
    ]
    for name, run in runs:
        try:
            run()
        except Exception as error:  # a peer that cannot run here (no torch, no GPU) is reported, not fatal
            print(f"peer {name} failed: {error!r}"[:400], flush=True)
    return dict(peer.RESULTS)


def peer_runs(peer: dict, batch: int, policy: str) -> list[dict]:
    names = {"batch": batch, "policy": policy, "torch": "bf16" if policy.startswith("mixed") else "fp32"}
    runs = []
    for key, (name, framework) in PEER_RUNS.items():
        key = key.format(**names)
        if peer.get(key):
            precision = "float32" if "float32" in key or "fp32" in key else "bfloat16"
            runs.append(
                {
                    "name": name.format(**names),
                    "framework": framework,
                    "precision": precision,
                    "batch": int(key.split("_b")[1].split("_")[0]),
                    "images_per_second": peer[key],
                    "peer_key": key,
                }
            )
    return runs


def _commit() -> str:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _software() -> dict:
    import keras
    import numpy

    versions = {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "backend": keras.backend.backend(),
    }
    for name in ("jax", "jaxlib", "tensorflow", "torch"):
        if name in sys.modules or importlib.util.find_spec(name) is not None:
            try:
                versions[name] = __import__(name).__version__
            except Exception:  # noqa: BLE001  (a broken optional install is not this benchmark's business)
                pass
    return versions


def make_record(book: dict, peer: dict | None, matmul: dict, training_flop: float, resume: dict | None) -> dict:
    """Everything in the format src/alexnet_book/recorded/ reads (date, card, source, runs, ...)."""
    commit = _commit()
    book_run = {
        "name": "the book: alexnet_book.train, full profile",
        "framework": f"alexnet_book ({book['backend']})",
        "precision": book["precision"].removeprefix("mixed_"),
        "batch": book["batch"],
        "images_per_second": book["images_per_second"],
        "jit_compile": book["jit_compile"],
    }
    runs = [book_run] + (peer_runs(peer, book["batch"], book["precision"]) if peer else [])
    by_key = {run.get("peer_key"): run["images_per_second"] for run in runs}
    names = {
        "batch": book["batch"],
        "policy": book["precision"],
        "torch": "bf16" if book["precision"].startswith("mixed") else "fp32",
    }
    ratios = {}
    for ratio, key in (
        ("book_over_torch_compile", "torch_b{batch}_{torch}_compile"),
        ("book_over_torch_eager", "torch_b{batch}_{torch}"),
        ("book_over_plain_keras", "keras_jax_b{batch}_{policy}_resize_in_model_spe1"),
        ("book_over_seed_like_feed", f"keras_jax_b{SEED_BATCH}_float32_host_227_float32_spe1"),
    ):
        if by_key.get(key.format(**names)):
            ratios[ratio] = book["images_per_second"] / by_key[key.format(**names)]
    record = {
        "date": datetime.date.today().isoformat(),
        "card": book["device"].removeprefix("GPU: "),
        "what": "training images per second after the compiling epoch, synthetic data; the book's full-profile "
        "training beside peer_reference.py in one process, on one card",
        "source": f"benchmarks/gpu_training.py, commit {commit[:12]}",
        "commit": commit,
        "software": _software(),
        "training_flop_per_image": training_flop,
        "matmul": matmul,
        "runs": runs,
        "ratios": ratios,
        "utilization": book["images_per_second"] * training_flop / matmul["flop_per_second"],
        "checkpoint_seconds_per_epoch": sum(book["checkpoint_seconds"]) / len(book["checkpoint_seconds"]),
        "projection": book["projection"],
        "book": book,
        "resume_check": resume,
    }
    if matmul["dtype"] == "bfloat16":
        record["bf16_matmul_flop_per_second"] = matmul["flop_per_second"]
    return record


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check(args, parser)
    _prepare_environment()
    from alexnet_book.hardware import describe_environment, gpu_available, matmul_flop_per_second
    from alexnet_book.model import build_alexnet
    from alexnet_book.summary import cost_table
    from alexnet_book.train import RunFolderError

    print(describe_environment(), flush=True)
    try:
        book = run_book(args)
    except RunFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    resume = None if args.no_resume_check else resume_check(args)
    on_gpu = gpu_available()
    size = args.matmul_size or (8192 if on_gpu else 1024)
    dtype = "bfloat16" if on_gpu else "float32"
    matmul = {"dtype": dtype, "size": size, "flop_per_second": matmul_flop_per_second(size, dtype, repeats=20)}
    training_flop = 3 * 2 * cost_table(build_alexnet("cifar10", raw_image_size=32), batch_size=128).total_multiply_adds
    started = time.perf_counter()
    peer = None if args.no_peer else run_peer(args.peer_script, book["batch"], book["precision"])
    record = make_record(book, peer, matmul, training_flop, resume)
    record["peer_seconds"] = time.perf_counter() - started
    for name, value in record["ratios"].items():
        print(f"RATIO {name}: {value:.2f}", flush=True)
    print(
        f"UTILIZATION {record['utilization']:.1%} of the {dtype} matmul rate "
        f"({matmul['flop_per_second'] / 1e12:,.1f} TFLOP/s at {size}) at {training_flop / 1e9:.2f} GFLOP per image",
        flush=True,
    )
    projection = record["projection"]
    print(
        f"PROJECTED full profile, {projection['epochs']} epochs of CIFAR-10 ({projection['images']}, checkpoints "
        f"included): {projection['seconds']:,.0f} s = {projection['seconds'] / 60:.1f} min ({projection['how']})",
        flush=True,
    )
    print("JSON", json.dumps(record), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0 if resume is None or resume["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
