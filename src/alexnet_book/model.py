"""One builder for the book's AlexNets: the paper's network and the post's CIFAR-10 version, with options for the rest.

The layers come from `alexnet_book.architecture` (the same description chapter 2 derives the shapes from);
the builder checks every layer's output shape against that table as it goes.
"""

from __future__ import annotations

import keras

from alexnet_book.architecture import LayerSpec, alexnet_layers, shape_table
from alexnet_book.checks import check_number, check_positive_int, is_whole_number
from alexnet_book.layers import LocalResponseNormalization, RandomShift

# What each variant means when an option is left at "default".
VARIANTS = {
    # Krizhevsky et al. 2012: LRN after conv1 and conv2, the two-GPU split, N(0, 0.01) weights, 1000 classes.
    "paper": {"num_classes": 1000, "normalization": "lrn", "groups": 2, "paper_init": True},
    # The blog post's Keras model: BatchNormalization after every conv, one stream, Keras's default init.
    "cifar10": {"num_classes": 10, "normalization": "batchnorm", "groups": 1, "paper_init": False},
}
NORMALIZATIONS = ("lrn", "batchnorm", None)
PAPER_WEIGHT_STDDEV = 0.01
AUGMENT_SHIFT_PIXELS = 4  # the CIFAR-10 custom: pad 4 pixels, crop back at random


def build_alexnet(
    variant="paper",
    *,
    num_classes=None,
    input_size=227,
    raw_image_size=None,
    augment=False,
    normalization="default",
    groups="default",
    dropout=0.5,
    activation="relu",
    pool_size=3,
    pool_stride=2,
    weight_decay=None,
    paper_init="default",
    name=None,
) -> keras.Model:
    """Build AlexNet as a Keras functional model whose layers are named conv1..conv5, pool1/pool2/pool5, flatten,
    fc6, drop6, fc7, drop7, fc8 (logits) and softmax.

    variant: "paper" (60,965,224 parameters at 227) or "cifar10", the post's model (58,327,818).
        The options below marked "default" take the variant's value (see VARIANTS).
    num_classes: units of fc8 (paper 1000, cifar10 10).
    input_size: the side of the square image conv1 sees (227 makes the paper's arithmetic whole).
    raw_image_size: if set (e.g. 32), the model takes uint8 images of that side and, inside the model (so on
        the accelerator), scales them to 0..1 and resizes them bilinearly to input_size.
    augment: with raw_image_size, adds a random shift of up to 4 pixels with zero fill (the same images as
        padding by 4 and cropping back at random, every shift equally likely; layers.RandomShift, which XLA
        compiles) and a random horizontal flip, at the raw size before the resize. Both are active only in
        training: predict and evaluate see the images unchanged.
    normalization: "lrn" puts LocalResponseNormalization (lrn1, lrn2) after the ReLU of conv1 and conv2, where the
        paper has it; "batchnorm" puts BatchNormalization (bn1..bn5) after the ReLU of every conv, where the post
        has it; None uses neither.
    groups: 2 splits conv2, conv4 and conv5 in two groups (Keras Conv2D groups=2), the paper's two GPUs;
        1 is a single stream.
    dropout: rate of drop6 and drop7 (the paper's 0.5); 0 keeps the layers but drops nothing.
    activation: of every conv and hidden dense layer (the paper's "relu"; e.g. "tanh" for its figure 1).
    pool_size, pool_stride: every max-pool; 3/2 is the paper's overlapping pooling, 2/2 the classic kind.
    weight_decay: the paper's 0.0005. Its update v <- 0.9 v - 0.0005 eps w - eps dL/dw puts the decay into the
        gradient, which is the gradient of an L2 penalty (lambda / 2) ||w||^2 with lambda = 0.0005. So it is added
        as keras.regularizers.L2(weight_decay / 2) on every kernel (biases are not decayed). This is not Keras's
        SGD(weight_decay=...), which is decoupled: it shrinks the weights outside the momentum.
    paper_init: True draws every kernel from N(0, 0.01) and sets the biases of conv2, conv4, conv5, fc6 and fc7
        to 1 and the others to 0 (the paper, section 5); False keeps Keras's defaults (Glorot uniform, zeros).
    name: the model's name (default "alexnet_<variant>").

    Mixed precision is safe: fc8 produces logits and a separate float32 softmax layer turns them into
    probabilities; LRN computes in float32.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: choose one of {', '.join(map(repr, VARIANTS))}.")
    defaults = VARIANTS[variant]
    num_classes = defaults["num_classes"] if num_classes is None else num_classes
    normalization = defaults["normalization"] if normalization == "default" else normalization
    groups = defaults["groups"] if groups == "default" else groups
    paper_init = defaults["paper_init"] if paper_init == "default" else paper_init
    _validate(normalization, groups, dropout, activation, weight_decay, paper_init, raw_image_size, augment)

    specs = alexnet_layers(num_classes=num_classes, groups=groups, pool_size=pool_size, pool_stride=pool_stride)
    try:
        expected = {row.name: row.output_shape for row in shape_table(input_size, specs)}
    except ValueError as error:
        raise ValueError(f"input_size={input_size!r} does not work for AlexNet: {error}") from error

    regularizer = keras.regularizers.L2(weight_decay / 2) if weight_decay else None

    inputs, x = _image_input(input_size, raw_image_size, augment)
    conv_index = 0
    last_dense = [spec.name for spec in specs if spec.kind == "dense"][-1]
    for spec in specs:
        if spec.kind == "conv":
            conv_index += 1
            x = _conv(x, spec, activation, regularizer, paper_init)
            x = _normalization(x, spec, normalization, conv_index)
        elif spec.kind == "pool":
            x = keras.layers.MaxPooling2D(
                spec.kernel, strides=spec.stride, padding=_keras_padding(spec), name=spec.name
            )(x)
        elif spec.kind == "flatten":
            x = keras.layers.Flatten(name=spec.name)(x)
        else:
            x = _dense(x, spec, spec.name == last_dense, activation, regularizer, paper_init, dropout)
        if tuple(x.shape[1:]) != expected[spec.name]:
            raise RuntimeError(  # the Keras layers and the shape table disagree: a bug in this module
                f"{spec.name} gives {tuple(x.shape[1:])}, the shape table says {expected[spec.name]}."
            )
    outputs = keras.layers.Activation("softmax", dtype="float32", name="softmax")(x)
    return keras.Model(inputs, outputs, name=name or f"alexnet_{variant}")


def _image_input(input_size, raw_image_size, augment):
    """The model's input, and what conv1 reads: the input itself, or (raw_image_size) the uint8 images scaled to
    0..1, augmented in training, and resized on the accelerator."""
    if raw_image_size is None:
        inputs = keras.Input((input_size, input_size, 3), name="image")
        return inputs, inputs
    inputs = keras.Input((raw_image_size, raw_image_size, 3), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    if augment:
        x = RandomShift(AUGMENT_SHIFT_PIXELS, name="random_shift")(x)
        x = keras.layers.RandomFlip("horizontal", name="random_flip")(x)
    return inputs, keras.layers.Resizing(input_size, input_size, interpolation="bilinear", name="resize")(x)


def _conv(x, spec: LayerSpec, activation, regularizer, paper_init: bool):
    """A convolution of the table, after a ZeroPadding2D where Keras has no name for its padding."""
    padding = _keras_padding(spec)
    if padding == "explicit":
        x = keras.layers.ZeroPadding2D(spec.padding, name=f"{spec.name}_pad")(x)
        padding = "valid"
    return keras.layers.Conv2D(
        spec.units,
        spec.kernel,
        strides=spec.stride,
        padding=padding,
        groups=spec.groups,
        activation=activation,
        kernel_regularizer=regularizer,
        name=spec.name,
        **_initializers(spec, paper_init),
    )(x)


def _normalization(x, spec: LayerSpec, normalization, conv_index: int):
    """What follows the ReLU of the conv_index-th convolution: LRN where the paper has it, or BatchNormalization
    after every convolution, or nothing."""
    if normalization == "lrn" and spec.lrn:
        return LocalResponseNormalization(name=f"lrn{conv_index}")(x)
    if normalization == "batchnorm":
        return keras.layers.BatchNormalization(name=f"bn{conv_index}")(x)
    return x


def _dense(x, spec: LayerSpec, is_output: bool, activation, regularizer, paper_init: bool, dropout):
    """A dense layer of the table, then its dropout; the output layer gives logits and has no dropout."""
    x = keras.layers.Dense(
        spec.units,
        activation=None if is_output else activation,
        kernel_regularizer=regularizer,
        name=spec.name,
        **_initializers(spec, paper_init),
    )(x)
    if is_output:
        return x
    return keras.layers.Dropout(dropout, name="drop" + spec.name.removeprefix("fc"))(x)


def _keras_padding(spec: LayerSpec) -> str:
    """Keras's name for a layer's padding, or "explicit" where it needs a ZeroPadding2D first."""
    if spec.padding == 0:
        return "valid"
    # With stride 1, "same" pads (kernel - 1) / 2 on each side: the paper's conv2-5.
    if spec.stride == 1 and 2 * spec.padding == spec.kernel - 1:
        return "same"
    return "explicit"


def _initializers(spec: LayerSpec, paper_init: bool) -> dict:
    if not paper_init:
        return {}
    return {
        "kernel_initializer": keras.initializers.RandomNormal(mean=0.0, stddev=PAPER_WEIGHT_STDDEV),
        "bias_initializer": keras.initializers.Constant(spec.init_bias),
    }


def _validate(normalization, groups, dropout, activation, weight_decay, paper_init, raw_image_size, augment):
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"unknown normalization {normalization!r}: choose 'lrn' (the paper), 'batchnorm' (the post), "
            f"None, or 'default' (the variant's)."
        )
    if not is_whole_number(groups) or groups not in (1, 2):
        raise ValueError(f"groups must be 1 (one stream), 2 (the paper's two-GPU split) or 'default', got {groups!r}.")
    check_number("dropout (a rate; the paper's is 0.5)", dropout, 0, 1, high_open=True)
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"unknown activation {activation!r}: use a Keras activation name such as 'relu' or 'tanh'."
        ) from error
    if weight_decay is not None:
        check_number("weight_decay (None for none; the paper's is 0.0005)", weight_decay, 0)
    if not isinstance(paper_init, bool):
        raise ValueError(f"paper_init must be True, False or 'default', got {paper_init!r}.")
    check_positive_int("raw_image_size (the side of the raw images in pixels)", raw_image_size, allow_none=True)
    if augment and raw_image_size is None:
        raise ValueError(
            "augment=True shifts and flips the raw images before they are resized: also pass raw_image_size "
            "(e.g. raw_image_size=32 for CIFAR-10)."
        )
