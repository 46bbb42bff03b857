"""What `make install` installs on this machine: requirements.txt, with TensorFlow and JAX in the build that suits it.

  Linux with an NVIDIA GPU (nvidia-smi lists one): tensorflow[and-cuda] and jax[cuda12]. Since TensorFlow 2.16 the
      Linux `tensorflow` wheel carries no CUDA libraries and JAX's plain wheel is CPU-only: these extras bring the
      CUDA wheels from PyPI, so no system-wide CUDA or cuDNN is needed. Both are CUDA 12 builds, and pip's resolver
      finds one set of CUDA wheels that satisfies both (tests/test_install.py checks it), so one environment holds
      both backends. (JAX's cuda13 build would bring a second CUDA beside TensorFlow's.)
  Linux without one: tensorflow-cpu (the same releases built without CUDA: a smaller download that prints no CUDA
      errors) and jax's CPU wheel.
  macOS and anything else: requirements.txt as it is. tensorflow-cpu has no macOS wheels; `tensorflow` is the
      build for macOS (arm64 and x86_64 alike).

Usage: python tools/install_plan.py [REQUIREMENTS] [--system NAME] [--gpu NAME | --no-gpu]
The requirement lines go to stdout (make writes them to .venv/requirements.txt) and one line saying which plan and
why to stderr. --system and --gpu describe another machine instead of this one (the tests use them). Standard
library only: it runs before the environment exists.
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# The requirement names the plan swaps, and what each becomes on Linux with or without an NVIDIA GPU.
LINUX_GPU = {"tensorflow": "tensorflow[and-cuda]", "jax": "jax[cuda12]"}
LINUX_CPU = {"tensorflow": "tensorflow-cpu", "jax": "jax"}


def machine_gpus() -> list[str]:
    """The NVIDIA GPUs nvidia-smi lists here: none where it is missing or fails (no driver loaded). The same query
    as alexnet_book.hardware.nvidia_smi_gpus, written out here because this script runs before the environment
    that would let it import the package exists."""
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in result.stdout.splitlines() if line.strip()] if result.returncode == 0 else []


def plan(system: str, gpus: list[str]) -> tuple[dict[str, str], str]:
    """The swaps for a machine, and a sentence that says which plan it is."""
    if system == "Linux" and gpus:
        return LINUX_GPU, f"Linux with an NVIDIA GPU ({', '.join(gpus)}): TensorFlow and JAX with their CUDA wheels"
    if system == "Linux":
        return LINUX_CPU, "Linux without an NVIDIA GPU (no nvidia-smi lists one): tensorflow-cpu and JAX's CPU wheel"
    name = {"Darwin": "macOS"}.get(system, system)
    return {}, f"{name}: requirements.txt as it is (tensorflow: tensorflow-cpu has no macOS wheels)"


def apply(requirements: str, swaps: dict[str, str]) -> str:
    """requirements.txt with each swapped name replaced at the start of its line (versions and markers kept)."""
    for name, replacement in swaps.items():
        pattern = re.compile(rf"^{re.escape(name)}(?=\s*(?:[<>=!~;\[]|$))", re.MULTILINE)
        requirements, count = pattern.subn(replacement, requirements)
        if count != 1:
            raise SystemExit(
                f"install_plan: requirements.txt must have exactly one line for {name} (found {count}); "
                "the plan swaps it for the build that suits the machine"
            )
    return requirements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("requirements", nargs="?", default=str(REPO_ROOT / "requirements.txt"))
    parser.add_argument("--system", default=platform.system(), help="Linux, Darwin, ... (default: this machine's)")
    gpu = parser.add_mutually_exclusive_group()
    gpu.add_argument("--gpu", action="append", metavar="NAME", help="an NVIDIA GPU the machine has (repeatable)")
    gpu.add_argument("--no-gpu", action="store_true", help="a machine without an NVIDIA GPU")
    args = parser.parse_args(argv)
    gpus = [] if args.no_gpu else args.gpu or machine_gpus()
    swaps, description = plan(args.system, gpus)
    requirements = apply(Path(args.requirements).read_text(), swaps)
    print(f"install plan: {description}", file=sys.stderr)
    sys.stdout.write(f"# install plan (tools/install_plan.py): {description}\n{requirements}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
