"""A rehearsal of the `full` profile on a CPU: the exact configuration a GPU run uses (the real AlexNet at 227 with
augmentation and the coupled weight decay, SGD with momentum at 0.01, the plateau schedule, the per-epoch commit,
jit_compile=True), under mixed_bfloat16 and mixed_float16 (the latter left out, and said so, on a CPU whose float16
kernels are measured far slower: see SLOWEST_FLOAT16), on whichever backend KERAS_BACKEND names.

Only the sizes shrink (a few dozen generated images, batches of 8, three epochs) and the patience (1, so that a
drop fits in three epochs). The validation set is one image under all ten labels: whatever the network predicts,
exactly one in ten is right, so the validation error cannot improve after the first epoch and the rate must drop.

Run by tests/test_full_rehearsal.py as `KERAS_BACKEND=jax python tests/rehearse_full.py FOLDER`; prints one
JSON line per check and exits non-zero on the first failure.
"""

import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import numpy as np  # noqa: E402

import alexnet_book.train as training  # noqa: E402
from alexnet_book.data import CIFAR10, train_validation_split  # noqa: E402
from alexnet_book.layers import RandomShift  # noqa: E402
from alexnet_book.profiles import BY_NAME  # noqa: E402

# Each backend interrupts and resumes under one precision and runs the other straight through.
PRECISIONS = {"tensorflow": ("mixed_bfloat16", "mixed_float16"), "jax": ("mixed_float16", "mixed_bfloat16")}
# Some CPU builds have no fast float16 kernels: TensorFlow 2.20 (Colab's) took 40 s for a step of 8 images at 227
# in float16 where bfloat16 took 0.9 s (TensorFlow 2.21: both fast), which made the float16 run take 5-8 minutes.
# Where a small convolution's training step is this many times slower in float16 than in float32, the straight run
# is left out and the rehearsal says so: it rehearses a GPU's configuration, which a CPU's kernels say nothing about.
SLOWEST_FLOAT16 = 10.0
IMAGES, VALIDATION, SEED = 50, 10, 42


def rehearsal_data() -> CIFAR10:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (IMAGES, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, IMAGES)
    # the images train() will take for validation (its seeded 80/20 split): one image, the ten labels
    _, validation, _, _ = train_validation_split(np.arange(IMAGES), np.arange(IMAGES), 0.2, SEED)
    x[validation[:VALIDATION]] = x[validation[0]]
    y[validation[:VALIDATION]] = np.arange(VALIDATION)
    return CIFAR10(x, y, x[:10].copy(), y[:10].copy(), source="standin", description="rehearsal images")


def config(folder: Path, precision: str) -> training.TrainConfig:
    return training.TrainConfig(
        profile="full",
        epochs=3,
        batch_size=8,
        train_size=16,
        validation_size=VALIDATION,
        test_size=10,
        plateau_patience=1,
        precision=precision,
        jit_compile=True,
        seed=SEED,
        output_dir=str(folder),
        download=False,
        verbose=0,
        deterministic=False,  # as on a GPU; TensorFlow's op determinism would switch XLA off
    )


def float16_slowdown() -> float:
    """How many times longer a training step of one small convolution takes in float16 than in float32 here (the
    slow kernels were the convolution's gradients: 23 s against 0.06 s for one of AlexNet's in TensorFlow 2.20)."""
    from alexnet_book.timing import seconds_per_call

    def seconds(dtype: str) -> float:
        model = keras.Sequential([keras.Input((27, 27, 32)), keras.layers.Conv2D(32, 3, dtype=dtype)])
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)  # as the rehearsal trains
        images, targets = np.ones((4, 27, 27, 32), "float32"), np.zeros((4, 25, 25, 32), "float32")
        return seconds_per_call(lambda: model.train_on_batch(images, targets), repeats=2)

    return seconds("float16") / seconds("float32")


def report(**fields) -> None:
    """One JSON line for tests/test_full_rehearsal.py."""
    print(json.dumps(fields), flush=True)


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"rehearsal failed: {what}")


def check_run(result, precision: str, resumed_from: int) -> None:
    full = dataclasses.asdict(BY_NAME["full"].training)
    model, history = result.model, result.history
    manifest = json.loads((Path(result.output_dir) / training.RunFiles.MANIFEST).read_text())
    check(
        result.config.augment and any(isinstance(layer, RandomShift) for layer in model.layers),
        "the full profile's augmentation is in the model",
    )
    check(
        result.config.learning_rate == full["learning_rate"] and result.config.weight_decay > 0,
        "the full profile's learning rate and weight decay",
    )
    check(len(model.losses) > 0, "the coupled weight decay (L2 penalties on the kernels)")
    check(
        model.jit_compile is True and result.jit_compile is True,
        f"XLA in force (model.jit_compile={model.jit_compile})",
    )
    check(
        model.get_layer("conv1").dtype_policy.name == precision == result.precision,
        f"the precision in force ({model.get_layer('conv1').dtype_policy.name}) recorded as {result.precision}",
    )
    check(result.loss_scaling == (precision == "mixed_float16"), "loss scaling exactly under mixed_float16")
    check(
        manifest["in_force"]
        == {"precision": precision, "jit_compile": True, "loss_scaling": precision == "mixed_float16"},
        f"run.json: {manifest['in_force']}",
    )
    for column in ("loss", "val_loss", "cross_entropy", "val_cross_entropy"):
        check(all(math.isfinite(value) for value in history[column]), f"finite {column}: {history[column]}")
    check(np.allclose(history["val_accuracy"], 0.1), f"the validation error stands still: {history['val_accuracy']}")
    rate = full["learning_rate"]
    check(np.allclose(history["learning_rate"], [rate, rate, rate / 10]), f"one drop: {history['learning_rate']}")
    check(
        history["epoch"] == [0, 1, 2] and result.resumed_from_epoch == resumed_from,
        f"one continuous history (epochs {history['epoch']}, resumed from {result.resumed_from_epoch})",
    )


def interrupt_after_commit(epochs_done: int):
    original = training.EpochCommit.commit

    def commit(self, state):
        original(self, state)
        if state["epochs_done"] == epochs_done:
            raise KeyboardInterrupt(f"rehearsal: interrupted after committing epoch {epochs_done}")

    return original, commit


def out_of_memory_error():
    """The backend's own error for an exhausted device."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[8,96,55,55]")
    import jax

    return jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.17GiB.")


def main(folder: Path) -> None:
    backend = keras.backend.backend()
    interrupted, straight = PRECISIONS[backend]
    data = rehearsal_data()

    started = time.perf_counter()
    original, commit = interrupt_after_commit(2)
    training.EpochCommit.commit = commit
    try:
        training.train(config(folder / interrupted, interrupted), data=data)
        check(False, "the interruption was injected")
    except KeyboardInterrupt:
        pass
    finally:
        training.EpochCommit.commit = original
    result = training.train(config(folder / interrupted, interrupted), data=data)
    check_run(result, interrupted, resumed_from=2)
    report(backend=backend, precision=interrupted, resumed=True, seconds=round(time.perf_counter() - started, 1))

    slowdown = float16_slowdown() if straight == "mixed_float16" else 1.0
    if slowdown > SLOWEST_FLOAT16:
        report(backend=backend, precision=straight, left_out=f"float16 {slowdown:.0f}x slower than float32 here")
    else:
        started = time.perf_counter()
        result = training.train(config(folder / straight, straight), data=data)
        check_run(result, straight, resumed_from=0)
        report(backend=backend, precision=straight, resumed=False, seconds=round(time.perf_counter() - started, 1))

    def exhausted(*args, **kwargs):
        raise out_of_memory_error()

    keras.Model.fit = exhausted
    try:
        training.train(config(folder / "oom", straight), data=data)
        check(False, "the out-of-memory error was injected")
    except training.TrainingOutOfMemory as error:
        check("batch_size=4 / --batch-size 4" in str(error), f"the message says what to do: {error}")
    report(backend=backend, out_of_memory_message=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
