"""What the machine running a chapter has: backend, devices, and the precision that suits them.

Backend-neutral: it asks whichever Keras backend is active (TensorFlow, JAX or PyTorch).
"""

from __future__ import annotations

import os
import platform


def _backend() -> str:
    import keras

    return keras.backend.backend()


def gpu_names() -> list[str]:
    """Names of the GPUs the active Keras backend can use (empty on a CPU-only machine)."""
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        names = []
        for device in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(device)
            names.append(details.get("device_name", device.name))
        return names
    if backend == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def gpu_available() -> bool:
    return bool(gpu_names())


def compute_capability() -> tuple[int, int] | None:
    """CUDA compute capability of the first GPU, or None (no GPU, or the backend does not say)."""
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
    elif backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if gpus and hasattr(gpus[0], "compute_capability"):
            major, minor = str(gpus[0].compute_capability).split(".")[:2]
            return int(major), int(minor)
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_capability(0)
    return None


def precision_policy() -> str:
    """The Keras dtype policy that suits this machine.

    bfloat16 needs Ampere or newer (compute capability 8.0+: A100, H100, L4); Volta and Turing
    (7.x, such as Colab's T4 at 7.5) have float16 tensor cores, so they get mixed float16, for which
    Keras adds loss scaling itself. A GPU below 7.0 (Pascal and older, e.g. a P100 at 6.0 or a
    GTX 1080 at 6.1) has no tensor cores: 16-bit math gains nothing there, so it stays in float32,
    as does a CPU, where 16-bit math is slower, not faster. A GPU whose capability the backend does
    not report (e.g. a ROCm device under JAX) gets mixed float16.
    """
    if not gpu_available():
        return "float32"
    capability = compute_capability()
    if capability is not None and capability[0] >= 8:
        return "mixed_bfloat16"
    if capability is not None and capability[0] < 7:
        return "float32"
    return "mixed_float16"


def matmul_flop_per_second(size: int = 2048, dtype: str = "float32", repeats: int = 10, seed: int = 0) -> float:
    """A machine's practical peak: the rate of a size x size matrix product on the active backend's device.

    The matrix stays on the device and the products are queued back to back; the clock stops after one
    synchronization at the end (fetching one number of the last product), so no copy to the host is timed.
    """
    import time

    import keras
    import numpy as np

    a = keras.ops.cast(np.random.default_rng(seed).normal(size=(size, size)).astype("float32"), dtype)
    keras.ops.convert_to_numpy(keras.ops.matmul(a, a)[0, 0])  # warm-up: allocation, kernel choice
    started = time.perf_counter()
    for _ in range(repeats):
        product = keras.ops.matmul(a, a)
    keras.ops.convert_to_numpy(product[0, 0])  # waits for every product queued before it
    return repeats * 2 * size**3 / (time.perf_counter() - started)


def describe_device() -> str:
    """The device a run uses, in a few words: the first GPU's name, or the CPU and its cores."""
    gpus = gpu_names()
    return f"GPU: {gpus[0]}" if gpus else f"CPU ({os.cpu_count()} cores)"


def describe_environment() -> str:
    """One line for the top of a chapter: versions, backend and devices."""
    import keras
    import numpy

    parts = [f"Python {platform.python_version()}", f"Keras {keras.__version__}", f"backend {_backend()}"]
    if _backend() == "tensorflow":
        import tensorflow as tf

        parts.append(f"TensorFlow {tf.__version__}")
    parts.append(f"NumPy {numpy.__version__}")
    gpus = gpu_names()
    parts.append("GPU: " + ", ".join(gpus) if gpus else "no GPU (CPU only)")
    return " | ".join(parts)
