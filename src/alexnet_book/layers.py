"""Layers that Keras does not ship: AlexNet's local response normalization.

Written with `keras.ops` only, so it runs on every Keras 3 backend (TensorFlow, JAX, PyTorch).
"""
from __future__ import annotations

import keras
from keras import ops


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
        if isinstance(depth_radius, bool) or not isinstance(depth_radius, int) or depth_radius < 0:
            raise ValueError(
                f"depth_radius must be a whole number >= 0 (the window spans 2 * depth_radius + 1 channels; "
                f"the paper's n = 5 is depth_radius=2), got {depth_radius!r}."
            )
        if not bias > 0:
            # with bias 0 a pixel whose neighbourhood is all zeros would give 0 / 0
            raise ValueError(f"bias must be > 0 (the paper's k is 2), got {bias!r}.")
        if not alpha >= 0:
            raise ValueError(f"alpha must be >= 0 (the paper's is 1e-4), got {alpha!r}.")
        self.depth_radius = depth_radius
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        channels = x.shape[-1]
        if channels is None:
            raise ValueError("LocalResponseNormalization needs a known number of channels (the last axis).")
        # Windowed sum of squares over the channel axis, as one matrix product with a 0/1 band matrix
        # (band[i, j] = 1 where |i - j| <= r). It looks wasteful (C multiply-adds per value instead of 2r + 1
        # additions) but runs as a single BLAS call, several times faster than adding shifted slices.
        r = self.depth_radius
        index = ops.arange(channels)
        band = ops.cast(ops.abs(index[:, None] - index[None, :]) <= r, "float32")
        window_sum = ops.matmul(ops.square(x), band)
        scale = ops.power(self.bias + self.alpha * window_sum, -self.beta)
        return ops.cast(x * scale, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta)
        return config
