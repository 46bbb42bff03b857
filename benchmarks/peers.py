"""The peers of the book's GPU benchmark: the same network trained in PyTorch (eager and torch.compile) and in plain
Keras, timed the same way on the same card, so that the book's own training speed can be quoted as a ratio to them
(absolute figures drift between machines and runs; ratios measured in one process on one card do not).

The network is the post's AlexNet: five convolutions, each followed by its ReLU and then BatchNormalization, the
paper's three overlapping 3x3 / stride-2 max-pools, fc6 and fc7 of 4,096 units with dropout 0.5, and 10 classes,
at 227 x 227. It trains with SGD (rate 0.01, momentum 0.9) on synthetic data (the content of the images does not
change the time). Two feeds:

- uint8 32 x 32 batches resized to 227 x 227 on the device (inside the model in Keras, by F.interpolate in PyTorch);
- the post's feed: images already resized on the host, 227 x 227 float32, at the post's batch of 32 (Keras only).

How each rate is measured (images per second after warm-up):

- PyTorch: 10 untimed steps (they compile, under torch.compile), then 40 timed steps between two device
  synchronizations;
- Keras: `model.fit` for 3 epochs of 40 steps each, the clock read at the start and end of every epoch (Keras turns
  the epoch's metrics into Python numbers before it calls on_epoch_end, which waits for the last step); the faster
  of epochs 2 and 3, since the first compiles.

The recorded figures of November 2026 (src/alexnet_book/recorded/2026-11_h100_peer_reference.json, one NVIDIA H100
80GB, Keras 3.15 on JAX) were measured with this code: each is one call of `torch_training_rate` or
`keras_training_rate`, and its `peer_key` in the record is the key this module gives that call.
benchmarks/gpu_training.py imports this module and runs the peers in its own process, beside the book's training, at
the book's batch and precision.

On a GPU machine (JAX backend; benchmarks/README.md says how to install Keras where only JAX and PyTorch are):
    KERAS_BACKEND=jax python benchmarks/peers.py torch keras --batches 128,512
A dry run on a CPU at the smallest input AlexNet takes (it checks that everything runs; its figures mean nothing):
    KERAS_BACKEND=jax python benchmarks/peers.py keras --batches 2 --steps 1 --image-size 67
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

IMAGE_SIZE = 227  # the input side of the paper's arithmetic (55 x 55 after conv1)
RAW_SIZE = 32  # CIFAR-10's images, resized on the device
NUM_CLASSES = 10
POST_BATCH = 32  # the post's batch size, at which its host-resized feed is measured
STEPS = 40  # timed steps (PyTorch), steps per epoch (Keras)
WARMUP = 10  # untimed PyTorch steps before the clock starts
KERAS_EPOCHS = 3  # the first compiles; the faster of the other two is kept
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")  # Keras's policy names, used for both frameworks
TORCH_PRECISION = {"float32": "fp32", "mixed_bfloat16": "bf16", "mixed_float16": "fp16"}  # short names in keys


@dataclass
class PeerRun:
    """One measured rate, described the way src/alexnet_book/recorded/ records it."""

    peer_key: str  # e.g. torch_b128_bf16_compile: which call measured it
    name: str
    framework: str
    precision: str  # what the matrix products ran in: float32, bfloat16 or float16
    batch: int
    images_per_second: float

    def as_record(self) -> dict:
        return asdict(self)


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}: pass one of those (Keras's names)")


def compute_dtype(precision: str) -> str:
    """The dtype the matrix products run in under a Keras policy name."""
    return precision.removeprefix("mixed_")


def feature_side(image_size: int = IMAGE_SIZE) -> int:
    """The side of pool5's output: conv1 (11 x 11, stride 4, no padding), then three 3 x 3 / stride-2 max-pools (the
    padded convolutions between them keep the size). 6 at 227, as in the paper."""
    side = (image_size - 11) // 4 + 1
    for _ in range(3):
        side = (side - 3) // 2 + 1
    if side < 1:
        raise ValueError(f"image size {image_size} is too small for AlexNet: pool5 would be empty (use 67 or more)")
    return side


def _size_suffix(image_size: int) -> str:
    """Keys of runs at another size than the paper's say so (the recorded figures are all at 227)."""
    return "" if image_size == IMAGE_SIZE else f"_{image_size}px"


# --- PyTorch -------------------------------------------------------------------------------------------------------


def torch_alexnet(image_size: int = IMAGE_SIZE):
    """The post's AlexNet in PyTorch (NCHW), each convolution followed by ReLU and then BatchNormalization."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 96, 11, 4), nn.ReLU(), nn.BatchNorm2d(96), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), nn.BatchNorm2d(256), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(384),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(384),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(256), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Linear(256 * feature_side(image_size) ** 2, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, NUM_CLASSES),
    )  # fmt: skip


def torch_training_rate(
    batch: int,
    precision: str = "mixed_bfloat16",
    compiled: bool = False,
    steps: int = STEPS,
    warmup: int = WARMUP,
    image_size: int = IMAGE_SIZE,
    device: str | None = None,
) -> PeerRun:
    """Training images per second of the post's AlexNet in PyTorch: uint8 32 x 32 batches on the device, resized
    there, autocast to the precision's 16-bit type (float16 with a gradient scaler, as Keras scales the loss),
    channels-last, cuDNN autotuning on; `compiled` wraps the whole step (forward, backward, update) in
    torch.compile. The device defaults to the GPU, else the CPU (a dry run)."""
    import torch
    import torch.nn.functional as F

    _check_precision(precision)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    model = torch_alexnet(image_size).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    autocast_dtype = {"float32": None, "mixed_bfloat16": torch.bfloat16, "mixed_float16": torch.float16}[precision]
    scaler = torch.amp.GradScaler(device) if autocast_dtype == torch.float16 else None
    images = torch.randint(0, 256, (batch, 3, RAW_SIZE, RAW_SIZE), dtype=torch.uint8, device=device)
    labels = torch.randint(0, NUM_CLASSES, (batch,), device=device)

    def step():
        x = F.interpolate(images.float() / 255, size=(image_size, image_size), mode="bilinear", align_corners=False)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss = F.cross_entropy(model(x), labels)
        optimizer.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:  # float16 needs its loss scaled, as Keras's mixed_float16 does
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    def synchronize():  # kernels run asynchronously on a GPU: wait for all of them before reading the clock
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    train_step = torch.compile(step) if compiled else step
    for _ in range(warmup):
        train_step()
    synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        train_step()
    synchronize()
    rate = batch * steps / (time.perf_counter() - started)
    short = TORCH_PRECISION[precision]
    return PeerRun(
        peer_key=f"torch_b{batch}_{short}{'_compile' if compiled else ''}{_size_suffix(image_size)}",
        name=f"PyTorch {'torch.compile' if compiled else 'eager'}, "
        + (f"{short} autocast" if autocast_dtype is not None else "fp32"),
        framework="pytorch",
        precision=compute_dtype(precision),
        batch=batch,
        images_per_second=round(rate, 1),
    )


# --- plain Keras ---------------------------------------------------------------------------------------------------


def keras_alexnet(resize_inside: bool = True, image_size: int = IMAGE_SIZE):
    """The post's AlexNet in plain Keras: uint8 32 x 32 input resized and scaled inside the model, or (the post's
    feed) 227 x 227 float32 images resized on the host. The softmax stays float32 under a mixed policy."""
    import keras

    layers = keras.layers
    if resize_inside:
        head = [
            keras.Input((RAW_SIZE, RAW_SIZE, 3), dtype="uint8"),
            layers.Resizing(image_size, image_size),
            layers.Rescaling(1 / 255),
        ]
    else:
        head = [keras.Input((image_size, image_size, 3))]
    return keras.Sequential(head + [
        layers.Conv2D(96, 11, strides=4, activation="relu"), layers.BatchNormalization(), layers.MaxPool2D(3, 2),
        layers.Conv2D(256, 5, padding="same", activation="relu"), layers.BatchNormalization(), layers.MaxPool2D(3, 2),
        layers.Conv2D(384, 3, padding="same", activation="relu"), layers.BatchNormalization(),
        layers.Conv2D(384, 3, padding="same", activation="relu"), layers.BatchNormalization(),
        layers.Conv2D(256, 3, padding="same", activation="relu"), layers.BatchNormalization(), layers.MaxPool2D(3, 2),
        layers.Flatten(), layers.Dense(4096, activation="relu"), layers.Dropout(0.5),
        layers.Dense(4096, activation="relu"), layers.Dropout(0.5),
        layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32"),
    ])  # fmt: skip


def keras_training_rate(
    batch: int,
    precision: str = "mixed_bfloat16",
    resize_inside: bool = True,
    steps: int = STEPS,
    steps_per_execution: int = 1,
    image_size: int = IMAGE_SIZE,
    seed: int = 0,
) -> PeerRun:
    """Training images per second of the post's AlexNet in plain Keras (whatever backend Keras runs on: JAX on the
    GPU machines) under a dtype policy, from `model.fit` on `steps` batches of synthetic data per epoch. The global
    dtype policy is restored afterwards."""
    import keras
    import numpy as np

    _check_precision(precision)
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        model = keras_alexnet(resize_inside, image_size)
        model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution,
        )
        count = batch * steps
        rng = np.random.default_rng(seed)
        if resize_inside:
            images = rng.integers(0, 256, (count, RAW_SIZE, RAW_SIZE, 3), dtype=np.uint8)
        else:
            images = rng.random((count, image_size, image_size, 3), dtype=np.float32)
        labels = rng.integers(0, NUM_CLASSES, count)
        clock = []  # perf_counter at every epoch's start and end
        timer = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: clock.append(time.perf_counter()),
            on_epoch_end=lambda epoch, logs: clock.append(time.perf_counter()),
        )
        model.fit(images, labels, batch_size=batch, epochs=KERAS_EPOCHS, verbose=0, callbacks=[timer])
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    epoch_seconds = [end - start for start, end in zip(clock[0::2], clock[1::2])]
    rate = count / min(epoch_seconds[1:])
    backend = keras.backend.backend()
    feed = "resize_in_model" if resize_inside else f"host_{image_size}_float32"
    description = (
        "resize inside the model"
        if resize_inside
        else f"host-resized {image_size}x{image_size} float32 input (the post's feed)"
    )
    return PeerRun(
        peer_key=f"keras_{backend}_b{batch}_{precision}_{feed}_spe{steps_per_execution}{_size_suffix(image_size)}",
        name=f"Keras on {dict(jax='JAX', tensorflow='TensorFlow', torch='PyTorch').get(backend, backend)}, "
        f"{precision}, {description}",
        framework=f"keras-{backend}",
        precision=compute_dtype(precision),
        batch=batch,
        images_per_second=round(rate, 1),
    )


# --- the command line ----------------------------------------------------------------------------------------------


def peer_calls(frameworks, batches, precisions, steps=STEPS, warmup=WARMUP, image_size=IMAGE_SIZE) -> list:
    """(description, call) for every peer run the command line makes, in order: for each batch and precision,
    PyTorch eager and compiled, plain Keras with the resize inside; and the post's feed once, at its batch, float32."""
    calls = []
    if "torch" in frameworks:
        torch_rate = partial(torch_training_rate, steps=steps, warmup=warmup, image_size=image_size)
        for batch in batches:
            for precision in precisions:
                calls.append((f"torch batch {batch} {precision}", partial(torch_rate, batch, precision)))
                calls.append((f"torch.compile batch {batch} {precision}", partial(torch_rate, batch, precision, True)))
    if "keras" in frameworks:
        keras_rate = partial(keras_training_rate, steps=steps, image_size=image_size)
        post_feed = partial(keras_rate, POST_BATCH, "float32", resize_inside=False)
        calls.append((f"keras post's feed batch {POST_BATCH} float32", post_feed))
        for batch in batches:
            for precision in precisions:
                calls.append((f"keras batch {batch} {precision}", partial(keras_rate, batch, precision)))
    return calls


def _positive_ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers, e.g. 128,512")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every batch size must be at least 1")
    return values


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("frameworks", nargs="*", help="torch, keras or both (default: both)")
    parser.add_argument("--batches", type=_positive_ints, default=[128, 512], help="default: 128,512")
    parser.add_argument(
        "--precisions",
        default="mixed_bfloat16",
        help=f"comma-separated Keras policy names, of {', '.join(PRECISIONS)} (default: mixed_bfloat16)",
    )
    parser.add_argument("--steps", type=int, default=STEPS, help=f"timed steps, Keras steps per epoch ({STEPS})")
    parser.add_argument("--warmup", type=int, default=WARMUP, help=f"untimed PyTorch steps ({WARMUP})")
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE, help=f"input side ({IMAGE_SIZE}, at least 67)")
    parser.add_argument("--json", type=Path, default=None, help="also write the runs to this file")
    return parser


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = sorted(set(args.frameworks) - {"torch", "keras"})
    if unknown:
        parser.error(f"unknown framework {', '.join(unknown)}: name torch, keras or both")
    precisions = args.precisions.split(",")
    for precision in precisions:
        if precision not in PRECISIONS:
            parser.error(f"--precisions: {precision!r} is not one of {', '.join(PRECISIONS)}")
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    try:
        feature_side(args.image_size)
    except ValueError as error:
        parser.error(str(error))
    os.environ.setdefault("KERAS_BACKEND", "jax")  # before keras is imported: the GPU machines have no TensorFlow
    runs, failures = [], {}
    frameworks = args.frameworks or ["torch", "keras"]
    for description, call in peer_calls(frameworks, args.batches, precisions, args.steps, args.warmup, args.image_size):
        try:
            run = call()
        except Exception as error:  # one peer that cannot run here (no torch, no compiler) does not stop the others
            failures[description] = repr(error)[:500]
            print(f"FAILED {description}: {error!r}"[:600], flush=True)
            continue
        runs.append(run)
        print(f"RESULT {run.peer_key}: {run.images_per_second:,.0f} img/s ({run.name}, batch {run.batch})", flush=True)
    report = {"runs": [run.as_record() for run in runs], "failures": failures}
    print("JSON", json.dumps({run.peer_key: run.images_per_second for run in runs}), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
