"""The book's one way to build and compile a model for training: the training chapter's runs (alexnet_book.train),
the short comparative runs of chapters 4 and 8 (alexnet_book.experiments) and the timings of chapter 9 all go
through here, so that they train the same way.

The recipe (Krizhevsky et al. 2012, section 5): SGD with momentum 0.9 and weight decay 0.0005, the paper's rate 0.01
at the start (the short profiles start lower: alexnet_book.profiles). The paper's weight decay sits inside the
momentum update (v <- 0.9 v - 0.0005 eps w - eps dL/dw), which is an L2 penalty (0.0005 / 2) ||w||^2 added to the
loss: "coupled" weight decay. Keras's `SGD(weight_decay=...)` is the decoupled kind (it shrinks the weights outside
the gradient), so the book puts the penalty on the kernels instead (build_alexnet(weight_decay=...)).

A Recipe also says how the arithmetic runs: the dtype policy (alexnet_book.hardware.precision_policy picks the one
that trains fastest on the machine) and whether XLA compiles the steps. What really runs is read from the compiled
model afterwards (in_force): Keras can switch XLA off with only a warning.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

from alexnet_book.checks import check_number
from alexnet_book.hardware import gpu_available, precision_policy
from alexnet_book.profiles import PAPER_MOMENTUM, get_profile

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclass(frozen=True)
class Recipe:
    """How a model trains: SGD's learning rate and momentum, how fast BatchNormalization's moving averages follow
    the batches (None: the layers' own momentum, Keras's 0.99), the dtype policy and XLA ("auto": Keras's own
    choice). Get the training chapter's with recipe_for(profile)."""

    learning_rate: float
    momentum: float = PAPER_MOMENTUM
    batchnorm_momentum: float | None = None
    precision: str = "float32"
    jit_compile: bool | str = "auto"

    def __post_init__(self):
        check_number("learning_rate", self.learning_rate, 0, 10, low_open=True)
        check_number("momentum", self.momentum, 0, 0.9999)
        if self.batchnorm_momentum is not None:
            check_number("batchnorm_momentum", self.batchnorm_momentum, 0, 1, low_open=True)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}.")
        if self.jit_compile not in (True, False, "auto"):
            raise ValueError(f"jit_compile must be True, False or 'auto', got {self.jit_compile!r}.")


def xla_suits_this_machine() -> bool:
    """XLA on a GPU; on a CPU only under JAX, whose steps run op by op without it (TensorFlow's were faster
    without it on a CPU), as Keras's own "auto" decides."""
    import keras

    return gpu_available() or keras.backend.backend() == "jax"


def recipe_for(profile=None, **changes) -> Recipe:
    """The training chapter's recipe at a profile: its starting rate and BatchNormalization momentum, the paper's
    momentum, and this machine's precision and XLA. None gives the paper's own (the full profile's rate, Keras's
    BatchNormalization momentum). `changes` replace single settings, e.g. recipe_for("quick", precision="float32")."""
    training = get_profile(profile or "full").training
    settings = dict(
        learning_rate=training.learning_rate,
        momentum=PAPER_MOMENTUM,
        batchnorm_momentum=training.batchnorm_momentum if profile else None,
        precision=precision_policy(),
        jit_compile=xla_suits_this_machine(),
    )
    unknown = sorted(set(changes) - set(settings))
    if unknown:
        raise ValueError(
            f"a recipe has no setting {', '.join(map(repr, unknown))}: its settings are {', '.join(settings)}."
        )
    return Recipe(**{**settings, **changes})


@contextlib.contextmanager
def dtype_policy(name: str):
    """Build layers under a dtype policy; the session's policy is left as it was (the layers keep theirs)."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(build, recipe: Recipe, **options):
    """build(**options) under the recipe's dtype policy, with its BatchNormalization momentum."""
    with dtype_policy(recipe.precision):
        model = build(**options)
    if recipe.batchnorm_momentum is not None:
        set_batchnorm_momentum(model, recipe.batchnorm_momentum)
    return model


def compile_model(model, recipe: Recipe) -> None:
    """The recipe's optimizer and loss: SGD with momentum, sparse cross-entropy, accuracy, and the cross-entropy
    alone as a metric (the loss Keras reports also holds the weight penalty). Under mixed_float16 the optimizer
    scales the loss, since float16 gradients underflow without it."""
    import keras

    optimizer = keras.optimizers.SGD(learning_rate=recipe.learning_rate, momentum=recipe.momentum)
    if recipe.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    metrics = ["accuracy", keras.metrics.SparseCategoricalCrossentropy(name="cross_entropy")]
    model.compile(
        optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=metrics, jit_compile=recipe.jit_compile
    )


def set_batchnorm_momentum(model, momentum: float) -> None:
    """How fast every BatchNormalization layer's moving averages follow the batches (Keras's default: 0.99)."""
    import keras

    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum  # read when the training step is traced: set it before fit


def in_force(model) -> dict:
    """What a compiled model really runs with, never what was asked for: the dtype policy of its layers with
    weights, whether XLA compiles its steps (model.jit_compile) and whether the loss is scaled."""
    import keras

    policies = sorted({layer.dtype_policy.name for layer in all_layers(model) if layer.weights})
    return {
        "precision": "+".join(policies),
        "jit_compile": bool(model.jit_compile),
        "loss_scaling": isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer),
    }


def all_layers(layer):
    """A model's layers, and the layers of any model nested in it."""
    for inner in getattr(layer, "layers", []):
        yield inner
        yield from all_layers(inner)


def seed_everything(seed: int, deterministic: bool | None = None) -> None:
    """Seed Python, NumPy and the backend's generators; with deterministic (None: where there is no GPU), also
    TensorFlow's op determinism: the same seed is not enough there, threads may add numbers in another order."""
    import keras

    if deterministic is None:
        deterministic = not gpu_available()
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


class TrainingOutOfMemory(RuntimeError):
    """The device ran out of memory; the message says what a batch costs and what to change."""


def _is_out_of_memory(error: BaseException) -> bool:
    # TensorFlow: ResourceExhaustedError; JAX/XLA: "RESOURCE_EXHAUSTED: Out of memory ..."; PyTorch: OutOfMemoryError
    text = f"{type(error).__name__}: {error}"
    return (
        any(sign in text for sign in ("ResourceExhausted", "RESOURCE_EXHAUSTED", "OutOfMemoryError"))
        or "out of memory" in text.lower()
    )


def training_memory(model, batch_size: int) -> dict:
    """Rough bytes a training step needs: every layer's output for a batch (kept for the backward pass), and
    the weights, their gradients and the momentum in float32."""
    bytes_per_value = {"float16": 2, "bfloat16": 2}.get(model.get_layer(index=-2).compute_dtype, 4)
    values_per_image = sum(math.prod(layer.output.shape[1:]) for layer in model.layers[1:])
    return {
        "activations": batch_size * values_per_image * bytes_per_value,
        "weights_gradients_momentum": 3 * 4 * model.count_params(),
    }


@contextlib.contextmanager
def explain_out_of_memory(model, batch_size: int, device: str, output_dir=None):
    """Turn a backend's out-of-memory error into TrainingOutOfMemory with a message that says what to do (and that
    the epochs already committed in output_dir are kept)."""
    try:
        yield
    except Exception as error:
        if not _is_out_of_memory(error):
            raise
        need = training_memory(model, batch_size)
        smaller = max(batch_size // 2, 1)
        raise TrainingOutOfMemory(
            f"Training ran out of memory on {device} with batches of {batch_size}. At this precision the "
            f"layer outputs of one batch take about {need['activations'] / 1e6:,.0f} MB and the weights, their "
            f"gradients and the momentum about {need['weights_gradients_momentum'] / 1e6:,.0f} MB. Train with a "
            f"smaller batch (batch_size={smaller} / --batch-size {smaller}; the first figure halves with it) in "
            "another output folder, or free the device (other notebooks, processes)."
            + (f" The epochs already finished in {output_dir} are kept." if output_dir else "")
            + f" The backend said: {str(error).splitlines()[0][:300]}"
        ) from None
