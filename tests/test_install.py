"""What `make install` installs where, that it resolves on the machines the README promises, and Colab's pins.

`make install-plan` (tools/install_plan.py) says which requirements `make install` would install here, without
installing anything: asked with a fake `nvidia-smi` first on PATH, it shows what a machine with an NVIDIA GPU gets.
Whether those requirements resolve on another platform is asked of pip's resolver against PyPI (`pip install
--dry-run --report` with `--platform` and `--python-version`): without PyPI those tests skip, except under CI=true,
where they fail.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from book import REPO_ROOT

PLAN = REPO_ROOT / "tools" / "install_plan.py"
COLAB_CONSTRAINTS = REPO_ROOT / "constraints" / "colab.txt"
THIS_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# Linux wheels are tagged manylinux_2_X for the oldest glibc they need; pip's --platform takes each tag literally, so
# the tags of a glibc 2.35 system (Ubuntu 22.04, Colab's) are listed one by one.
LINUX_X86_64 = ["manylinux2014_x86_64"] + [f"manylinux_2_{minor}_x86_64" for minor in range(17, 36)]
MACOS_ARM64 = ["macosx_14_0_arm64"]  # pip adds the older macOS versions itself
GPU_NAME = "NVIDIA A100-SXM4-40GB"


def fake_nvidia_smi(folder: Path, gpu: str | None) -> Path:
    """A folder holding an `nvidia-smi` that lists `gpu`, or fails as it does where no driver is loaded."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "nvidia-smi"
    if gpu:
        script.write_text(f"#!/bin/sh\necho '{gpu}'\n")
    else:
        script.write_text(
            "#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'\nexit 9\n"
        )
    script.chmod(0o755)
    return folder


def make(*args: str, path_first: Path | None = None) -> subprocess.CompletedProcess:
    if shutil.which("make") is None:
        pytest.skip("these tests ask `make` what it would do, and make is not installed")
    # Not the make this test runs under (make test CONSTRAINTS=...): its command-line variables reach a child make
    # through MAKEFLAGS and would answer for the make asked here.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    if path_first:
        env["PATH"] = f"{path_first}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        ["make", "--no-print-directory", *args, f"PYTHON={sys.executable}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def requirement_lines(text: str) -> dict[str, str]:
    """Requirement lines by project name (extras kept in the line), comments and options left out."""
    lines = {}
    for line in text.splitlines():
        line = line.split(" #")[0].strip()
        if line and not line.startswith(("#", "-")):
            lines[canonicalize_name(Requirement(line).name)] = line
    return lines


def requirements_txt() -> dict[str, str]:
    return requirement_lines((REPO_ROOT / "requirements.txt").read_text())


def test_make_installs_the_cuda_wheels_where_nvidia_smi_lists_a_gpu(tmp_path):
    result = make("-s", "install-plan", path_first=fake_nvidia_smi(tmp_path / "bin", GPU_NAME))
    assert result.returncode == 0, result.stderr
    planned = requirement_lines(result.stdout)
    tensorflow, jax = requirements_txt()["tensorflow"], requirements_txt()["jax"]
    assert planned["tensorflow"] == tensorflow.replace("tensorflow", "tensorflow[and-cuda]", 1)
    assert planned["jax"] == jax.replace("jax", "jax[cuda12]", 1)
    assert "tensorflow-cpu" not in planned
    assert GPU_NAME in result.stderr, f"the plan should say which GPU it found: {result.stderr}"
    # everything else exactly as requirements.txt has it
    others = {name: line for name, line in requirements_txt().items() if name not in ("tensorflow", "jax")}
    assert {name: planned[name] for name in others} == others


def test_make_installs_tensorflow_cpu_where_nvidia_smi_fails(tmp_path):
    result = make("-s", "install-plan", path_first=fake_nvidia_smi(tmp_path / "bin", None))
    assert result.returncode == 0, result.stderr
    planned = requirement_lines(result.stdout)
    assert planned["tensorflow-cpu"] == requirements_txt()["tensorflow"].replace("tensorflow", "tensorflow-cpu", 1)
    assert planned["jax"] == requirements_txt()["jax"]
    assert "tensorflow" not in planned and not any("[" in line for line in planned.values())


def test_macos_gets_tensorflow_which_has_macos_wheels(tmp_path):
    for gpu in (["--no-gpu"], ["--gpu", GPU_NAME]):  # an NVIDIA GPU changes nothing on macOS
        result = subprocess.run(
            [sys.executable, str(PLAN), "--system", "Darwin", *gpu], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert requirement_lines(result.stdout) == requirements_txt()
        assert "macOS" in result.stderr


def test_the_install_recipe_installs_the_plan_under_the_constraints_asked_for(tmp_path):
    venv = tmp_path / "venv"
    plain = make("-n", "-B", "install", f"VENV={venv}")
    assert plain.returncode == 0, plain.stderr
    assert f"tools/install_plan.py requirements.txt > {venv}/requirements.txt" in plain.stdout
    assert re.search(rf"pip install .*-r {re.escape(str(venv))}/requirements.txt -e '\.\[test\]'", plain.stdout)
    assert "--constraint" not in plain.stdout
    colab = make("-n", "-B", "install", "CONSTRAINTS=constraints/colab.txt")
    assert colab.returncode == 0, colab.stderr
    assert "-r .venv-colab/requirements.txt" in colab.stdout and "--constraint constraints/colab.txt" in colab.stdout


def test_the_plan_needs_nothing_but_python(tmp_path):
    """`make install` asks the plan before the environment exists: it must run on a bare Python (-S: no
    site-packages, so no numpy, keras or the book's package)."""
    result = subprocess.run(
        [sys.executable, "-S", str(PLAN), "--system", "Linux"],
        env={**os.environ, "PATH": str(fake_nvidia_smi(tmp_path / "bin", GPU_NAME)) + os.pathsep + os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "tensorflow[and-cuda]" in requirement_lines(result.stdout)["tensorflow"]


def test_a_requirements_file_without_a_tensorflow_line_is_refused_with_a_message(tmp_path):
    broken = tmp_path / "requirements.txt"
    broken.write_text("matplotlib>=3.8\njax>=0.4.30\n")
    result = subprocess.run(
        [sys.executable, str(PLAN), str(broken), "--system", "Linux", "--no-gpu"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "exactly one line for tensorflow" in result.stderr, result.stderr


# --- Colab's pins ----------------------------------------------------------------------------------------------------


def colab_pins() -> dict[str, str]:
    pins = {}
    for name, line in requirement_lines(COLAB_CONSTRAINTS.read_text()).items():
        specifier = list(Requirement(line).specifier)
        assert len(specifier) == 1 and specifier[0].operator == "==", f"constraints/colab.txt: {line} is not a pin"
        pins[name] = specifier[0].version
    return pins


def test_colab_constraints_say_where_they_come_from_and_pin_within_the_books_ranges():
    header = COLAB_CONSTRAINTS.read_text().split("\n\n")[0]
    assert "googlecolab/backend-info" in header and re.search(r"\b20\d\d-\d\d-\d\d\b", header), (
        "constraints/colab.txt must say where its versions come from (googlecolab/backend-info) and of which date"
    )
    pins = colab_pins()
    assert pins["tensorflow-cpu"] == pins["tensorflow"], "tensorflow-cpu is the same release as Colab's tensorflow"
    assert pins["jaxlib"] == pins["jax"]
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    declared = re.search(r"^dependencies = \[(.*?)\]", pyproject, re.MULTILINE | re.DOTALL).group(1)
    ranges = [Requirement(item.strip().strip('"')) for item in declared.split(",") if item.strip()]
    ranges += [Requirement(line) for line in requirements_txt().values()]
    for requirement in ranges:
        name = canonicalize_name(requirement.name)
        if name in pins:
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"Colab's {name} {pins[name]} is outside the book's range {requirement}: widen the range or say "
                "in the README that Colab is not supported"
            )
    for needed in ("tensorflow", "keras", "jax", "numpy", "matplotlib", "scikit-learn"):
        assert needed in pins, f"constraints/colab.txt must pin {needed}"


def test_the_readme_states_colabs_versions_as_pinned():
    readme = (REPO_ROOT / "README.md").read_text()
    pins = colab_pins()
    for label, name in [
        ("TensorFlow", "tensorflow"),
        ("Keras", "keras"),
        ("JAX", "jax"),
        ("NumPy", "numpy"),
        ("matplotlib", "matplotlib"),
        ("scikit-learn", "scikit-learn"),
    ]:
        assert f"{label} {pins[name]}" in readme, f"README.md must say Colab has {label} {pins[name]}, as pinned"


def test_this_environment_has_colabs_versions_where_make_installed_it_so():
    """`make test CONSTRAINTS=...` says which constraints it installed under: they must be what the run has."""
    constraints = os.environ.get("ALEXNET_BOOK_CONSTRAINTS")
    if not constraints:
        pytest.skip("not a run under constraints (make test CONSTRAINTS=constraints/colab.txt sets it)")
    pins = requirement_lines((REPO_ROOT / constraints).read_text())
    found = {}
    for name, line in pins.items():
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        assert Requirement(line).specifier.contains(found[name], prereleases=True), (
            f"{name} {found[name]} is installed, but {constraints} pins {line}"
        )
    assert {"keras", "numpy", "jax"} <= set(found) and {"tensorflow", "tensorflow-cpu"} & set(found), sorted(found)


# --- resolution on other platforms, asked of PyPI ---------------------------------------------------------------------

TARGETS = {
    # name: (install_plan.py options, pip's platform tags, Python version, constraints, what must be in the install)
    "Linux x86_64 with an NVIDIA GPU": (
        ["--system", "Linux", "--gpu", GPU_NAME],
        LINUX_X86_64,
        THIS_PYTHON,
        None,
        {"tensorflow", "jax", "jax-cuda12-plugin", "nvidia-cudnn-cu12", "keras"},
    ),
    "Linux x86_64 without a GPU": (
        ["--system", "Linux", "--no-gpu"],
        LINUX_X86_64,
        THIS_PYTHON,
        None,
        {"tensorflow-cpu", "jax", "keras"},
    ),
    "macOS arm64": (["--system", "Darwin"], MACOS_ARM64, THIS_PYTHON, None, {"tensorflow", "jax", "keras"}),
    "Colab (Linux x86_64 with a GPU, Python 3.13, Colab's pins)": (
        ["--system", "Linux", "--gpu", "Tesla T4"],
        LINUX_X86_64,
        "3.13",
        COLAB_CONSTRAINTS,
        {"tensorflow", "jax", "jax-cuda12-plugin", "keras"},
    ),
}


def lazy_wheels() -> list[str]:
    """pip's option to read a wheel's dependencies with HTTP range requests where the index serves no separate
    metadata (as PyPI does): without it, resolving the CUDA plan downloads 4 GB of wheels. Where pip no longer
    offers the (experimental) option, nothing: the resolution is the same, only slower."""
    option = "--use-feature=fast-deps"
    asked = subprocess.run(
        [sys.executable, "-m", "pip", "install", option, "--dry-run", "--no-index"], capture_output=True, text=True
    )
    return [] if "invalid choice" in asked.stderr else [option]


class Resolutions:
    """pip's dry run of `make install`'s plan for every target, all under way at once: each waits on PyPI, not on
    the CPU. Each resolves its own copy of the package, so that no two pips prepare it in one folder."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="alexnet-book-resolutions-"))
        lazy = lazy_wheels()
        self.running = {}
        for number, (name, (options, platforms, python, constraints, _)) in enumerate(TARGETS.items()):
            folder = self.folder / str(number)
            folder.mkdir()
            for item in ("pyproject.toml", "README.md", "LICENSE"):
                shutil.copy(REPO_ROOT / item, folder / item)
            shutil.copytree(
                REPO_ROOT / "src", folder / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
            )
            plan = subprocess.run(
                [sys.executable, str(PLAN), str(REPO_ROOT / "requirements.txt"), *options],
                capture_output=True,
                text=True,
                timeout=60,
            )
            (folder / "plan.txt").write_text(plan.stdout)
            command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", *lazy]
            command += ["--report", "report.json", "--only-binary=:all:", "--python-version", python]
            command += [option for platform in platforms for option in ("--platform", platform)]
            command += ["-r", "plan.txt", "-e", ".[test]"] + (["--constraint", str(constraints)] if constraints else [])
            with open(folder / "pip.log", "wb") as log:  # a file, not a pipe: nobody reads it while pip runs
                process = subprocess.Popen(
                    command,
                    cwd=folder,
                    env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.running[name] = (process, folder)

    def result(self, name: str) -> tuple[int, str, Path]:
        """The dry run's exit status, its errors (without pip's notes on this machine's extra indexes), its report."""
        process, folder = self.running[name]
        process.wait(timeout=900)
        log = (folder / "pip.log").read_text(errors="replace")
        errors = "\n".join(line for line in log.splitlines() if "is ignored" not in line and "fast-deps" not in line)
        return process.returncode, errors, folder / "report.json"

    def stop(self):
        for process, _ in self.running.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


# Started as pytest collects this module, so that in `make test` the dry runs wait on PyPI while the test files
# before this one run, instead of adding their minute or two to it; stopped when pytest exits.
RESOLUTIONS = Resolutions()
atexit.register(RESOLUTIONS.stop)


def pypi_reachable() -> bool:
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "tensorflow"], capture_output=True, text=True, timeout=120
    )
    return probe.returncode == 0


@pytest.mark.parametrize("target", list(TARGETS))
def test_the_install_resolves(target):
    status, errors, report = RESOLUTIONS.result(target)
    if status != 0 and not pypi_reachable():
        reason = "these tests ask PyPI whether the install resolves on other platforms, and PyPI is not reachable"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}. Under CI they must run, not be skipped.", pytrace=False)
        pytest.skip(reason)
    assert status == 0, f"{target}: pip finds no install for `make install`'s plan:\n{errors[-4000:]}"
    installed = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    missing = TARGETS[target][4] - set(installed)
    assert not missing, f"{target}: the install lacks {sorted(missing)}"
    if TARGETS[target][3]:
        pins = colab_pins()
        differ = {name: (installed[name], pin) for name, pin in pins.items() if installed.get(name, pin) != pin}
        assert not differ, f"{target}: installed (version, pin) that differ: {differ}"
    if "tensorflow" in installed:
        assert "tensorflow-cpu" not in installed
