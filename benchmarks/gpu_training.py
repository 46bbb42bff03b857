"""GPU check of the book's training: its own entry point (alexnet_book.train.train) with the full profile's model,
batch and precision, on synthetic 32x32 uint8 images, and shared/bench/peer_reference.py beside it in the same
process, at the same batch size, on the same card.

Prints the book's training images per second, the ratios book / torch.compile peer and book / seed-like feed
(the same network in plain Keras fed host-resized 227x227 float32 images), and the projected time of a 50-epoch
CIFAR-10 run (the full profile's epoch: 40,000 training and 10,000 validation images, checkpoints included).

On a GPU machine (JAX backend; see shared/bench/README.md for installing keras, namex and optree there):
    KERAS_BACKEND=jax PYTHONPATH=src python benchmarks/gpu_training.py --json $OUT/gpu_training.json
Dry run on a CPU (no GPU, no peer; checks that everything runs):
    KERAS_BACKEND=tensorflow python benchmarks/gpu_training.py --images 256 --epochs 1 --no-peer
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
PEER_CANDIDATES = [REPO_ROOT / "shared" / "bench" / "peer_reference.py", REPO_ROOT.parent / "shared" / "bench" / "peer_reference.py"]
PROJECTED_EPOCHS = 50


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=50_000, help="synthetic training images (default: CIFAR-10's 50,000)")
    parser.add_argument("--test-images", type=int, default=1_000, help="synthetic test images (default: 1,000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs (default: 3; the first one compiles)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the full profile's (the paper's 128)")
    parser.add_argument("--precision", default="auto", help="dtype policy (default: auto, by hardware)")
    parser.add_argument("--no-peer", action="store_true", help="skip the PyTorch and plain-Keras peer figures")
    parser.add_argument("--peer-script", type=Path, default=None, help="path of shared/bench/peer_reference.py")
    parser.add_argument("--output-dir", type=Path, default=None, help="keep the run folder here (default: a temporary one, removed)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--architecture", default="alexnet", choices=("alexnet", "tiny"), help=argparse.SUPPRESS)
    return parser


def _check(args, parser) -> None:
    for name in ("images", "test_images", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.images < 5:
        parser.error("--images must be at least 5 (a fifth of them becomes the validation set)")
    if not args.no_peer:
        candidates = [args.peer_script] if args.peer_script else PEER_CANDIDATES
        found = [path for path in candidates if path and path.is_file()]
        if not found:
            parser.error(f"peer_reference.py not found (looked at {', '.join(map(str, candidates))}): "
                         "pass --peer-script PATH, or --no-peer")
        args.peer_script = found[0]


def synthetic_cifar(train_images: int, test_images: int, seed: int = 0):
    """Random uint8 images in the shape of CIFAR-10, wrapped like loaded data (the content does not change timing)."""
    import numpy as np

    from alexnet_book.data import CIFAR10

    rng = np.random.default_rng(seed)
    return CIFAR10(
        rng.integers(0, 256, (train_images, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, train_images),
        rng.integers(0, 256, (test_images, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, test_images),
        source="standin", description=f"{train_images:,} random uint8 32x32 images, for timing only",
    )


def projected_seconds(history: dict, epochs: int) -> tuple[float, str]:
    """Time of an `epochs`-epoch run: the first (compiling) epoch once, then the mean of the others."""
    seconds, warmup = history["epoch_seconds"], history["warmup"]
    first = [s for s, w in zip(seconds, warmup) if w]
    steady = [s for s, w in zip(seconds, warmup) if not w]
    if steady:
        return (first[0] if first else steady[0]) + (epochs - 1) * sum(steady) / len(steady), "measured"
    return epochs * seconds[0], "from the first epoch only, compile included: an overestimate"


def run_book(args) -> dict:
    import keras

    from alexnet_book.hardware import describe_environment
    from alexnet_book.train import PROFILE_DEFAULTS, TrainConfig, train

    print(describe_environment(), flush=True)
    folder = args.output_dir or Path(tempfile.mkdtemp(prefix="alexnet-book-bench-"))
    batch = args.batch_size or PROFILE_DEFAULTS["full"]["batch_size"]
    data = synthetic_cifar(args.images, args.test_images)
    config = TrainConfig(profile="full", epochs=args.epochs, batch_size=batch, precision=args.precision,
                         output_dir=str(folder), download=False, architecture=args.architecture, verbose=2,
                         overwrite=args.output_dir is not None)
    started = time.perf_counter()
    try:
        result = train(config, data=data)
    finally:
        if args.output_dir is None:
            shutil.rmtree(folder, ignore_errors=True)  # a full AlexNet run folder is about a gigabyte
    projected, how = projected_seconds(result.history, PROJECTED_EPOCHS)
    # The same run on CIFAR-10: the same number of training and validation images per epoch, if all 50,000 are used.
    cifar_scale = 50_000 / args.images
    figures = {
        "book_images_per_second": result.images_per_second,
        "batch_size": batch,
        "precision": result.precision,
        "jit_compile": result.jit_compile,
        "device": result.device,
        "backend": keras.backend.backend(),
        "train_images": result.train_images,
        "epoch_seconds": result.history["epoch_seconds"],
        "projected_50_epoch_cifar10_seconds": projected * cifar_scale,
        "projection": how,
        "wall_seconds": time.perf_counter() - started,
    }
    print(f"RESULT book (alexnet_book.train, full profile): {result.images_per_second:,.0f} training images/s, "
          f"batch {batch}, {result.precision}, XLA {'on' if result.jit_compile else 'off'}, {result.device}", flush=True)
    return figures


def run_peer(script: Path, batch: int) -> dict:
    """peer_reference.py's benchmarks at the book's batch size: torch eager and compiled (bf16), plain Keras with
    the resize inside the model (bf16), and the seed-like feed (host-resized 227x227 float32, float32 policy)."""
    spec = importlib.util.spec_from_file_location("peer_reference", script)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    runs = [
        ("torch eager bf16", lambda: peer.torch_bench(batch, amp=True)),
        ("torch.compile bf16", lambda: peer.torch_bench(batch, amp=True, compile_=True)),
        ("keras resize-in-model bf16", lambda: peer.keras_bench(batch, "mixed_bfloat16")),
        ("keras seed-like host float32", lambda: peer.keras_bench(batch, "float32", resize_inside=False)),
    ]
    for name, run in runs:
        try:
            run()
        except Exception as error:  # a peer that cannot run here (no torch, no GPU) is reported, not fatal
            print(f"peer {name} failed: {error!r}"[:400], flush=True)
    return dict(peer.RESULTS)


def ratios(book: float, peer: dict, batch: int) -> dict:
    wanted = {
        "book_over_torch_compile": f"torch_b{batch}_bf16_compile",
        "book_over_torch_eager": f"torch_b{batch}_bf16",
        "book_over_plain_keras_bf16": f"keras_jax_b{batch}_mixed_bfloat16_resize_in_model_spe1",
        "book_over_seed_like_feed": f"keras_jax_b{batch}_float32_host_227_float32_spe1",
    }
    return {name: book / peer[key] for name, key in wanted.items() if peer.get(key)}


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check(args, parser)
    _prepare_environment()
    figures = run_book(args)
    if not args.no_peer:
        figures["peer"] = run_peer(args.peer_script, figures["batch_size"])
        figures["ratios"] = ratios(figures["book_images_per_second"], figures["peer"], figures["batch_size"])
        for name, value in figures["ratios"].items():
            print(f"RATIO {name}: {value:.2f}", flush=True)
    hours = figures["projected_50_epoch_cifar10_seconds"] / 3600
    print(f"PROJECTED {PROJECTED_EPOCHS} epochs of CIFAR-10 (40,000 + 10,000 images per epoch, checkpoints included): "
          f"{figures['projected_50_epoch_cifar10_seconds']:,.0f} s = {hours:.2f} h ({figures['projection']})", flush=True)
    print("JSON", json.dumps(figures), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
