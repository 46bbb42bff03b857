"""Layers that Keras does not ship: AlexNet's local response normalization (across all channels, or within
each of several groups of channels as the paper's two GPUs computed it), and a random shift that XLA can compile.

Written with `keras.ops` only, so they run on every Keras 3 backend (TensorFlow, JAX, PyTorch).
"""

from __future__ import annotations

import keras
from keras import ops

from alexnet_book.checks import check_number, check_positive_int, check_whole_number


@keras.saving.register_keras_serializable(package="alexnet_book")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels (Krizhevsky et al. 2012, section 3.3).

        b[..., i] = a[..., i] / (k + alpha * sum_{j = i - r}^{i + r} a[..., j]^2) ** beta

    where the sum runs over the n = 2r + 1 neighbouring channels that exist (fewer at the edges).
    The defaults are the paper's: n = 5 (depth_radius r = 2), k = 2, alpha = 1e-4, beta = 0.75.
    They equal `tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)`;
    TensorFlow's own defaults (depth_radius=5, bias=1, alpha=1, beta=0.5) are a different normalization.
    Like the paper and TensorFlow, alpha is not divided by n (Caffe's LRN does divide it).

    Channels last. The sum and the power are computed in float32 whatever the layer's dtype policy,
    because under mixed_float16 the squares of activations above 256 overflow float16.
    """

    def __init__(self, depth_radius: int = 2, bias: float = 2.0, alpha: float = 1e-4, beta: float = 0.75, **kwargs):
        super().__init__(**kwargs)
        check_whole_number(
            "depth_radius (the window spans 2 * depth_radius + 1 channels; the paper's n = 5 is depth_radius=2)",
            depth_radius,
        )
        # with bias 0 a pixel whose neighbourhood is all zeros would give 0 / 0
        check_number("bias (the paper's k is 2)", bias, 0, low_open=True)
        check_number("alpha (the paper's is 1e-4)", alpha, 0)
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        if x.shape[-1] is None:
            raise ValueError("LocalResponseNormalization needs a known number of channels (the last axis).")
        scale = ops.power(self.bias + self.alpha * self.window_sum(ops.square(x)), -self.beta)
        return ops.cast(x * scale, self.compute_dtype)

    def window_sum(self, squares):
        """For every channel i, the sum of `squares` over channels i - r .. i + r (those that exist).

        Computed as one matrix product with a 0/1 band matrix (band[i, j] = 1 where |i - j| <= r): C multiply-adds
        per value instead of 2r + 1 additions, but a single BLAS call. On a CPU (forward and backward at lrn1's
        and lrn2's sizes, batch 32, TensorFlow 2.21 and JAX 0.10) it ran 1.3 to 2.8 times as fast as adding
        shifted slices, and 2.7 to 3.8 times as fast as a windowed convolution along the channels under XLA
        (JAX, TensorFlow's jit_compile); TensorFlow's graph execution ran the convolution about as fast. The price
        shows when the channels are split over devices: XLA's partitioner gathers every channel for the product,
        where a windowed sum needs only the r maps next to each boundary (chapter 10 measures both). A subclass
        may compute the same sum another way.
        """
        index = ops.arange(squares.shape[-1])
        band = ops.cast(ops.abs(index[:, None] - index[None, :]) <= self.depth_radius, "float32")
        return ops.matmul(squares, band)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta)
        return config


@keras.saving.register_keras_serializable(package="alexnet_book")
class GroupedLocalResponseNormalization(keras.layers.Layer):
    """Local response normalization within each of `groups` equal blocks of channels.

    LocalResponseNormalization sums over the 5 neighbouring maps across all channels. On the paper's two GPUs each
    card held half the maps and exchanged data only at conv3 and the dense layers, so (the book's inference: the
    paper does not say) each normalized over its own half: the maps at the edge of a half see fewer neighbours.
    That is this layer with groups=2. It differs from LocalResponseNormalization only in the 2 * depth_radius
    maps nearest each boundary.
    """

    def __init__(
        self,
        groups: int = 2,
        depth_radius: int = 2,
        bias: float = 2.0,
        alpha: float = 1e-4,
        beta: float = 0.75,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("groups", groups)
        self.groups = groups
        self.lrn = LocalResponseNormalization(depth_radius, bias, alpha, beta, dtype=self.dtype_policy)

    def call(self, inputs):
        channels = inputs.shape[-1]
        if channels is None or channels % self.groups:
            raise ValueError(f"{channels} channels do not split into {self.groups} equal groups.")
        parts = ops.split(inputs, self.groups, axis=-1)
        return ops.concatenate([self.lrn(part) for part in parts], axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            groups=self.groups,
            depth_radius=self.lrn.depth_radius,
            bias=self.lrn.bias,
            alpha=self.lrn.alpha,
            beta=self.lrn.beta,
        )
        return config


@keras.saving.register_keras_serializable(package="alexnet_book")
class RandomShift(keras.layers.Layer):
    """Training-time augmentation: shift each image by a random whole number of pixels, up to `max_shift` in
    each direction, with zero fill; at inference the images pass unchanged.

    The same as padding by `max_shift` and cropping back at a random position, so each of the
    (2 max_shift + 1)^2 shifts is equally likely (Keras's RandomTranslation, which rounds a random fraction
    of the side, makes the largest shifts half as likely). It also keeps XLA on: RandomTranslation and
    RandomCrop declare `supports_jit = False`, which switches XLA off for a whole model with only a warning,
    while this layer is plain `keras.ops` with the backend's random numbers. The shift is a product with a
    0/1 selection matrix per axis: out[b, i, j] = x[b, i + dy_b, j + dx_b], and a source pixel outside the
    image selects nothing (zero fill).
    """

    def __init__(self, max_shift: int = 4, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        check_whole_number("max_shift (pixels)", max_shift)
        self.max_shift, self.seed = int(max_shift), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _selection(self, size: int, shift):
        """(batch, size, size) 0/1 matrices whose row i picks source index i + shift of its image."""
        source = ops.arange(size)[None, :] + shift[:, None]
        return ops.cast(ops.equal(source[:, :, None], ops.arange(size)[None, None, :]), self.compute_dtype)

    def call(self, inputs, training=False):
        if not training or self.max_shift == 0:
            return inputs
        batch, height, width = ops.shape(inputs)[0], inputs.shape[1], inputs.shape[2]
        dy, dx = (
            keras.random.randint((batch,), -self.max_shift, self.max_shift + 1, seed=self.seed_generator)
            for _ in range(2)
        )
        rows, columns = self._selection(height, dy), self._selection(width, dx)
        x = ops.cast(inputs, self.compute_dtype)
        return ops.einsum("bis,bstc,bjt->bijc", rows, x, columns)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(max_shift=self.max_shift, seed=self.seed)
        return config
