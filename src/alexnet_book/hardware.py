"""What the machine running a chapter has: backend, devices, and the precision that suits them.

Backend-neutral: it asks whichever Keras backend is active (TensorFlow, JAX or PyTorch).
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

from alexnet_book.bilingual import say
from alexnet_book.timing import seconds_per_call


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


def cpu_has_bfloat16_units() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (x86 AVX512_BF16 or AMX), read from /proc/cpuinfo (Linux;
    False elsewhere, where the book has not measured it)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def precision_policy() -> str:
    """The Keras dtype policy that trains fastest on this machine, by a rule each branch of which was measured.

    GPUs: bfloat16 needs Ampere or newer (compute capability 8.0+: A100, H100, L4); Volta and Turing (7.x, such as
    Colab's T4 at 7.5) have float16 tensor cores, so they get mixed float16, for which Keras adds loss scaling
    itself. A GPU below 7.0 (Pascal and older, e.g. a P100 at 6.0) has no tensor cores and stays in float32. A GPU
    whose capability the backend does not report (e.g. a ROCm device under JAX) gets mixed float16.
    CPUs: mixed bfloat16 only with TensorFlow on a CPU with bfloat16 units (AVX512_BF16 or AMX), where oneDNN's
    kernels use them and AlexNet trains faster than in float32 (benchmarks/cpu_training.py measures by how much on
    any machine). JAX's CPU kernels ran the same step slower in bfloat16, and on a CPU without such units 16-bit
    arithmetic is emulated: float32 there.
    """
    if not gpu_available():
        if _backend() == "tensorflow" and cpu_has_bfloat16_units():
            return "mixed_bfloat16"
        return "float32"
    capability = compute_capability()
    if capability is not None and capability[0] >= 8:
        return "mixed_bfloat16"
    if capability is not None and capability[0] < 7:
        return "float32"
    return "mixed_float16"


def matmul_flop_per_second(
    size: int = 2048, dtype: str = "float32", repeats: int = 10, seed: int = 0, rounds: int = 1
) -> float:
    """The rate of a size x size matrix product on the active backend's device, in floating-point operations per
    second: the best of `rounds` rounds of `repeats` products (alexnet_book.timing.seconds_per_call)."""
    import keras
    import numpy as np

    a = keras.ops.cast(np.random.default_rng(seed).normal(size=(size, size)).astype("float32"), dtype)
    return 2 * size**3 / seconds_per_call(lambda: keras.ops.matmul(a, a), repeats=repeats, rounds=rounds)


def peak_matmul_flop_per_second(
    dtype: str = "float32", sizes=(1024, 2048, 4096), repeats: int = 3, rounds: int = 5
) -> tuple[float, int]:
    """A machine's practical peak for `dtype`: the backend's own matrix product at its best size, the best of
    several rounds. Returns (FLOP/s, the size that reached it): a yardstick for training, which a convolution
    library can still beat (Winograd's algorithm, for one, needs fewer multiplications)."""
    rates = {size: matmul_flop_per_second(size, dtype, repeats=repeats, rounds=rounds) for size in sizes}
    best = max(rates, key=rates.get)
    return rates[best], best


def training_images_per_second(model, batch_size: int, steps: int = 3, rounds: int = 1, seed: int = 0) -> float:
    """Training images per second of a compiled model that takes uint8 32x32x3 images: `train_on_batch` on one
    random batch, timed as alexnet_book.timing does (one untimed step traces and compiles)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(batch_size, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, model.output_shape[-1], size=(batch_size,))
    return batch_size / seconds_per_call(lambda: model.train_on_batch(x, y), repeats=steps, rounds=rounds)


def describe_device():
    """The device a run uses, in a few words (a bilingual.Phrase): the first GPU's name, or the CPU and its cores."""
    gpus = gpu_names()
    return say("GPU: {name}", name=gpus[0]) if gpus else say("CPU ({cores} cores)", cores=os.cpu_count())


def device_phrase(description: str):
    """A device as describe_device() described it, read back from a run's record (where it is stored as English
    text), as a bilingual.Phrase again; a description in another form is the same in both languages."""
    if description.startswith("GPU: "):
        return say("GPU: {name}", name=description[len("GPU: ") :])
    cpu = re.fullmatch(r"CPU \((\d+) cores\)", description)
    return say("CPU ({cores} cores)", cores=int(cpu.group(1))) if cpu else description


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


# --- a GPU that the backend cannot use ---------------------------------------------------------------------------

# Profiles a reader may choose to run on the CPU although the machine has a GPU.
CPU_PROFILES = ("smoke", "quick")


def nvidia_smi_gpus() -> list[str]:
    """The NVIDIA GPUs nvidia-smi lists: what the machine has, whether or not a backend can use them.

    Empty where nvidia-smi is missing, fails (no driver loaded) or lists none. Cheap: no framework is imported.
    """
    import subprocess

    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if result.returncode != 0:
        return []
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def _installed_version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _why_no_gpu_and_fix(backend: str) -> tuple[str, str]:
    """Why the active backend's install sees no GPU, and the command that fixes it."""
    reinstall = "or recreate make's environment, which installs the CUDA build where nvidia-smi works: "
    reinstall += "`rm -rf .venv && make install`"
    if backend == "tensorflow":
        cpu_build = _installed_version("tensorflow-cpu")
        if cpu_build:
            return (
                f"tensorflow-cpu {cpu_build} is installed, TensorFlow built without CUDA.",
                f"`pip uninstall tensorflow-cpu` then `pip install 'tensorflow[and-cuda]=={cpu_build}'`, {reinstall}.",
            )
        version = _installed_version("tensorflow") or ""
        return (
            "TensorFlow finds no CUDA libraries: since TensorFlow 2.16 its Linux wheel brings none.",
            f"`pip install 'tensorflow[and-cuda]{'==' + version if version else ''}'` adds them, {reinstall}.",
        )
    if backend == "jax":
        version = _installed_version("jax") or ""
        return (
            "JAX's plain wheel runs on the CPU only.",
            f"`pip install 'jax[cuda12]{'==' + version if version else ''}'` adds the CUDA plugin, {reinstall}.",
        )
    if backend == "torch":
        return (
            "this PyTorch was built without CUDA.",
            "install a CUDA build of PyTorch (https://pytorch.org/get-started/locally/).",
        )
    return (f"the {backend} backend reports no GPU.", "install the CUDA build of the backend's library.")


def unused_gpu_warning(profile: str = "auto") -> str | None:
    """Where nvidia-smi lists an NVIDIA GPU that the active Keras backend cannot use: what is wrong and the fix.

    Without this the machine's GPU goes unused in silence: "auto" resolves to quick, and every chapter runs on the
    CPU. None where nvidia-smi lists no GPU, where the backend sees one, or where a CPU profile was chosen
    deliberately (`profile`, or ALEXNET_BOOK_PROFILE behind "auto", is smoke or quick).
    """
    from alexnet_book.profiles import ENV_VARIABLE

    chosen = str(profile).strip().lower()
    if chosen == "auto":
        chosen = os.environ.get(ENV_VARIABLE, "").strip().lower()
    if chosen in CPU_PROFILES:
        return None
    gpus = nvidia_smi_gpus()
    if not gpus or gpu_available():
        return None
    backend = _backend()
    distributions = {"tensorflow": ("tensorflow", "tensorflow-cpu"), "jax": ("jaxlib",), "torch": ("torch",)}
    library = next(
        (f"{name} {version}" for name in distributions.get(backend, ()) if (version := _installed_version(name))),
        "its library's version unknown",
    )
    why, fix = _why_no_gpu_and_fix(backend)
    return (
        f"nvidia-smi lists {', '.join(gpus)}, but the Keras backend {backend} ({library}) sees no GPU, "
        f"so the chapters run on the CPU, at the quick profile instead of full: {why} Fix: {fix} "
        f"To run on the CPU deliberately, set {ENV_VARIABLE}=quick."
    )


def stop_if_gpu_unused() -> None:
    """For `make book`: stop before anything executes where unused_gpu_warning() has something to say."""
    message = unused_gpu_warning("auto")
    if message:
        raise SystemExit(f"Stopped before executing any chapter. {message}")
