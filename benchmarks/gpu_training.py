"""GPU check of the book's training: its own entry point (alexnet_book.train.train) with the full profile's model,
batch, precision and XLA, on synthetic 32x32 uint8 images, and the peers of benchmarks/peers.py (the same network in
PyTorch and in plain Keras) beside it in the same process, on the same card, at the same batch and precision.

Prints the book's training images per second (no per-step host synchronization: train() has no per-batch
callback), the ratios book / torch.compile and book / the post-like feed (the same network in plain Keras fed
host-resized 227x227 float32 images at the post's batch of 32), the utilization (achieved FLOP/s over the card's
matrix-product rate, measured here), what the per-epoch checkpoint costs, the projected time of the full
profile's whole run on CIFAR-10's 40,000 / 10,000 split, and whether a run interrupted after an epoch resumes.
--json writes all of it in the format of src/alexnet_book/recorded/, with the card, the driver, CUDA, JAX and Keras
versions, and the batch and precision of every figure: copy the file there, unedited, to record it.

On a GPU machine (JAX backend; benchmarks/README.md says how to install keras, namex and optree there):
    KERAS_BACKEND=jax PYTHONPATH=src python benchmarks/gpu_training.py --json $OUT/gpu_training.json
Dry run on a CPU (no GPU, no peer; checks that everything runs):
    KERAS_BACKEND=tensorflow python benchmarks/gpu_training.py --images 256 --epochs 2 --no-peer
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
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


def _load_peers():
    """benchmarks/peers.py, imported by its path: benchmarks/ is a folder of scripts, not a package. It imports
    only the standard library at first (keras and torch inside its functions), so loading it here is cheap."""
    spec = importlib.util.spec_from_file_location("alexnet_book_benchmark_peers", HERE / "peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


peers = _load_peers()


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
    if args.precision not in ("auto", *peers.PRECISIONS):
        parser.error(f"--precision must be auto or one of {', '.join(peers.PRECISIONS)}, not {args.precision!r}")


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

    from alexnet_book.profiles import BY_NAME
    from alexnet_book.train import TrainConfig, train

    folder = args.output_dir or Path(tempfile.mkdtemp(prefix="alexnet-book-bench-"))
    batch = args.batch_size or BY_NAME["full"].training.batch_size
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
    epochs = BY_NAME["full"].training.epochs
    # the same run on CIFAR-10: as many training and validation images per epoch if all 50,000 are used
    projected, how = projected_seconds(result.history, epochs, data_scale=50_000 / args.images)
    checkpoint = result.history["checkpoint_seconds"]
    figures = {
        "images_per_second": result.images_per_second,
        "batch": batch,
        "policy": result.config.precision,  # the dtype policy asked for ("auto" resolved by hardware)
        "precision": result.precision,  # the policy in force in the layers with weights
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
            "batch": batch,
            "precision": peers.compute_dtype(result.config.precision),
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
        "batch": config.batch_size,
        "precision": peers.compute_dtype(result.config.precision),
    }
    print(f"RESUME {'passed' if check['passed'] else 'FAILED'}: {check}", flush=True)
    return check


def run_peers(batch: int, policy: str) -> tuple[dict, dict]:
    """benchmarks/peers.py at the book's batch and dtype policy (PyTorch eager and torch.compile, plain Keras with
    the resize inside the model), and the post's feed at the post's batch, in float32 as the post ran it. Returns
    the runs by name, in the record's format, and the error of each peer that could not run here."""
    calls = {
        "torch_eager": lambda: peers.torch_training_rate(batch, policy),
        "torch_compile": lambda: peers.torch_training_rate(batch, policy, compiled=True),
        "plain_keras": lambda: peers.keras_training_rate(batch, policy),
        "post_like_feed": lambda: peers.keras_training_rate(peers.POST_BATCH, "float32", resize_inside=False),
    }
    runs, failures = {}, {}
    for name, call in calls.items():
        try:
            run = call()
        except Exception as error:  # a peer that cannot run here (no torch, no GPU) is reported, not fatal
            failures[name] = repr(error)[:500]
            print(f"peer {name} failed: {error!r}"[:600], flush=True)
            continue
        print(f"RESULT {run.peer_key}: {run.images_per_second:,.0f} img/s ({run.name}, batch {run.batch})", flush=True)
        runs[name] = run.as_record()
    return runs, failures


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


def _version(module: str, *distributions: str) -> str | None:
    """A module's version: its own where it is imported, else its installed distribution's (read without importing
    it: TensorFlow alone would take seconds); None where it is not installed."""
    if module in sys.modules:
        return getattr(sys.modules[module], "__version__", None)
    for distribution in distributions or (module,):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _cuda_version(number: int) -> str:
    """CUDA numbers its versions 1000 * major + 10 * minor: 12080 is 12.8."""
    return f"{number // 1000}.{number % 1000 // 10}"


def _cudnn_version(number: int) -> str:
    """cuDNN 9 numbers its versions 10000 * major + 100 * minor + patch (90800 is 9.8.0); cuDNN 8, 1000 * major."""
    unit = 10_000 if number >= 90_000 else 1_000
    major, rest = divmod(number, unit)
    return f"{major}.{rest // 100}.{rest % 100}"


def _nvidia_driver() -> dict:
    """The driver's version and the card's memory, from nvidia-smi; nothing where there is none (a CPU)."""
    try:
        query = ["nvidia-smi", "--query-gpu=driver_version,memory.total", "--format=csv,noheader"]
        answer = subprocess.run(query, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return {}
    lines = answer.stdout.strip().splitlines()
    if answer.returncode != 0 or not lines or "," not in lines[0]:
        return {}
    driver, memory = (part.strip() for part in lines[0].split(",", 1))
    return {"driver": driver, "card_memory": memory}


def _jax_cuda() -> dict:
    """The CUDA runtime and cuDNN that JAX's CUDA plugin loaded, and the newest CUDA the driver supports. The plugin
    reports them in its _versions module, where JAX itself reads them (jax._src.lib); nothing on a CPU."""
    readings = (  # key, the plugin's function, how its number reads
        ("cuda", "cuda_runtime_get_version", _cuda_version),
        ("cuda_supported_by_driver", "cuda_driver_get_version", _cuda_version),
        ("cudnn", "cudnn_get_version", _cudnn_version),
    )
    for plugin in ("jax_cuda13_plugin", "jax_cuda12_plugin"):
        try:
            versions = importlib.import_module(f"{plugin}._versions")
        except ImportError:
            continue
        try:
            found = {"jax_cuda_plugin": f"{plugin} {importlib.metadata.version(plugin.replace('_', '-'))}"}
        except importlib.metadata.PackageNotFoundError:
            found = {"jax_cuda_plugin": plugin}
        for key, function, reads in readings:
            try:
                found[key] = reads(getattr(versions, function)())
            except Exception:  # noqa: BLE001  (a plugin without this function, or no GPU to ask)
                pass
        return found
    return {}


def _torch_cuda() -> dict:
    """The CUDA and cuDNN that PyTorch's wheel brings (its own, not JAX's), where the peers imported it."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return {}
    return {"torch_cuda": torch.version.cuda, "torch_cudnn": torch.backends.cudnn.version()}


def software() -> dict:
    """The versions the figures depend on. driver, cuda, jax and keras are always there (recorded_benchmarks
    requires them): None says one was looked for and not found, as the driver and CUDA on a CPU."""
    import keras
    import numpy

    versions = {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": numpy.__version__,
        "jax": _version("jax"),
        "jaxlib": _version("jaxlib"),
        "tensorflow": _version("tensorflow", "tensorflow", "tensorflow-cpu"),
        "torch": _version("torch"),
        "driver": None,
        "cuda": None,
        "cudnn": None,
    }
    versions.update(_nvidia_driver())
    if versions["backend"] == "jax":
        versions.update(_jax_cuda())
    versions.update(_torch_cuda())
    return versions


PEER_RATIOS = {  # the ratio's name -> the peer run (run_peers' name for it) it divides the book's rate by
    "book_over_torch_compile": "torch_compile",
    "book_over_torch_eager": "torch_eager",
    "book_over_plain_keras": "plain_keras",
    "book_over_post_like_feed": "post_like_feed",
}


def make_record(
    book: dict, peer_runs: dict, matmul: dict, training_flop: float, resume: dict | None, peer_failures=None
) -> dict:
    """Everything in the format src/alexnet_book/recorded/ reads (date, card, source, software, runs, ...), each
    figure with the batch and precision it was measured at (recorded_benchmarks.check_record checks that)."""
    commit = _commit()
    precision = peers.compute_dtype(book["policy"])
    book_run = {
        "name": "the book: alexnet_book.train, full profile",
        "framework": f"alexnet_book ({book['backend']})",
        "precision": precision,
        "batch": book["batch"],
        "images_per_second": book["images_per_second"],
        "jit_compile": book["jit_compile"],
        "precision_in_force": book["precision"],
    }
    ratios = {
        ratio: {
            "value": book["images_per_second"] / peer_runs[role]["images_per_second"],
            "book": {"batch": book["batch"], "precision": precision},
            "peer": {key: peer_runs[role][key] for key in ("peer_key", "name", "batch", "precision")},
        }
        for ratio, role in PEER_RATIOS.items()
        if role in peer_runs
    }
    record = {
        "date": datetime.date.today().isoformat(),
        "card": book["device"].removeprefix("GPU: "),
        "what": "training images per second after the compiling epoch, synthetic data; the book's full-profile "
        "training beside the peers of benchmarks/peers.py in one process, on one card",
        "source": f"benchmarks/gpu_training.py and benchmarks/peers.py, commit {commit[:12]}",
        "commit": commit,
        "software": software(),
        "training_flop_per_image": training_flop,
        "matmul": matmul,
        "runs": [book_run, *peer_runs.values()],
        "peer_failures": peer_failures or {},
        "ratios": ratios,
        "utilization": {
            "value": book["images_per_second"] * training_flop / matmul["flop_per_second"],
            "batch": book["batch"],
            "precision": precision,
            "matmul_dtype": matmul["dtype"],
            "matmul_size": matmul["size"],
        },
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
    size = args.matmul_size or (8192 if gpu_available() else 1024)
    dtype = peers.compute_dtype(book["policy"])  # the book's own: bfloat16 on the GPUs it targets, float32 on a CPU
    matmul = {"dtype": dtype, "size": size, "flop_per_second": matmul_flop_per_second(size, dtype, repeats=20)}
    training_flop = 3 * 2 * cost_table(build_alexnet("cifar10", raw_image_size=32), batch_size=128).total_multiply_adds
    started = time.perf_counter()
    peer_runs, failures = ({}, {}) if args.no_peer else run_peers(book["batch"], book["policy"])
    record = make_record(book, peer_runs, matmul, training_flop, resume, failures)
    record["peer_seconds"] = time.perf_counter() - started
    for name, ratio in record["ratios"].items():
        peer = ratio["peer"]
        print(f"RATIO {name}: {ratio['value']:.2f} (over {peer['name']}, batch {peer['batch']})", flush=True)
    print(
        f"UTILIZATION {record['utilization']['value']:.1%} of the {dtype} matmul rate "
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
