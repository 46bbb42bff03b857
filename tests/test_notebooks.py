"""Every chapter: stored clean, shaped like a chapter, executed under papermill, and built into the site."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from book import BACKEND, BOOK_COPY, NOTEBOOK_DATA_DIR, REPO_ROOT, toc_files, toc_notebooks

NOTEBOOKS = toc_notebooks()
IDS = [nb.stem for nb in NOTEBOOKS]
CANONICAL_SETUP_NOTEBOOK = REPO_ROOT / "chapters" / "01_convolution_arithmetic.ipynb"
# Lines that TensorFlow's C++ runtime (absl logging, XLA, oneDNN, tf.data's graph optimizer) writes to the kernel's
# standard error, which ipykernel copies into the notebook as stderr output. They come from the library, not from the
# chapters' code, and say nothing a reader must act on: allowed. tests/conftest.py's TF_CPP_MIN_LOG_LEVEL=2 already
# keeps most of them out; E lines, and the first absl line, still come.
TENSORFLOW_LOG_LINES = [
    # absl's format: severity and date (I0000, W0000, E0000, F0000: absl before InitializeLog knows no date), time,
    # thread, file:line]. For example "I0000 00:00:1795909703.659798   32185 port.cc:153] oneDNN custom operations".
    re.compile(r"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\] "),
    # Older TensorFlow: "2024-05-01 12:00:00.123456: I tensorflow/core/util/port.cc:113] oneDNN custom operations"
    re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\] "),
    re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"),
    # cpu_feature_guard's second line, which has no prefix of its own
    re.compile(r"To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.$"),
    re.compile(r".*oneDNN custom operations are on"),
    # tf.data's graph rewrite on a runtime older than the op registry it was built with (harmless)
    re.compile(r".*NodeDef mentions attribute use_unbounded_threadpool"),
]
# What a Python warning or error printed to stderr looks like: "chapter.py:3: UserWarning: ..." and its
# "  warnings.warn(...)" line, "WARNING:absl:..." from Python's logging, "...Error: ...", a traceback.
PYTHON_PROBLEM = re.compile(r"warn|error|traceback|exception", re.IGNORECASE)
# A traceback printed anywhere else (stdout, a cell's result), which the page would show.
TRACEBACK = "Traceback (most recent call last)"


def load(notebook: Path) -> dict:
    return json.loads(notebook.read_text())


def source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def tagged(nb: dict, tag: str) -> list[dict]:
    return [c for c in nb["cells"] if tag in c.get("metadata", {}).get("tags", [])]


def setup_cell(nb: dict) -> str:
    cells = [source(c) for c in tagged(nb, "remove-cell") if 'find_spec("alexnet_book")' in source(c)]
    assert len(cells) == 1, "expected exactly one setup cell (tagged remove-cell) that installs alexnet_book"
    return cells[0]


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def problems_in_outputs(nb: dict) -> list[str]:
    """An executed notebook's error outputs, the stderr lines that look like a Python warning or error (not
    TensorFlow's own C++ log lines), and a traceback in any other output: "cell N: <what>" for each."""
    found = []
    for index, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                found.append(f"cell {index}: error output {output['ename']}: {output['evalue']}"[:300])
            elif output["output_type"] == "stream" and output["name"] == "stderr":
                for line in _text(output["text"]).splitlines():
                    if PYTHON_PROBLEM.search(line) and not any(p.match(line) for p in TENSORFLOW_LOG_LINES):
                        found.append(f"cell {index}: stderr {line.strip()}"[:300])
            elif TRACEBACK in _text(output.get("text", "")) + _text(output.get("data", {}).get("text/plain", "")):
                found.append(f"cell {index}: a traceback in its {output.get('name', output['output_type'])} output")
    return found


REPEAT_WINDOW = 6  # lines: a block this long written twice belongs in the package, once
PUNCTUATION_ONLY = re.compile(r"^[\s()\[\]{},:]*$")


def meaningful_lines(code: str) -> list[str]:
    """Code lines that say something: no blank lines, comments, lone brackets or imports (which every chapter
    repeats by necessity), with white space folded."""
    lines, in_import = [], False
    for raw in code.splitlines():
        line = raw.strip()
        if in_import:
            in_import = not line.startswith(")")
            continue
        if line.startswith(("import ", "from ")):
            in_import = line.endswith("(")
            continue
        if line and not line.startswith("#") and not PUNCTUATION_ONLY.match(line):
            lines.append(re.sub(r"\s+", " ", line))
    return lines


def repeated_blocks(chapters: dict[str, list[str]], package: dict[str, str]) -> list[str]:
    """Blocks of REPEAT_WINDOW meaningful lines that stand in two chapters, or in a chapter and the package.
    chapters: name -> its cells' code; package: file name -> source."""

    def blocks(code):
        lines = meaningful_lines(code)
        return {tuple(lines[i : i + REPEAT_WINDOW]) for i in range(len(lines) - REPEAT_WINDOW + 1)}

    where: dict[tuple, set] = {}
    for name, cells in chapters.items():
        for code in cells:
            for block in blocks(code):
                where.setdefault(block, set()).add(name)
    in_package = {block: file for file, code in package.items() for block in blocks(code)}
    found = []
    for block, names in where.items():
        if len(names) > 1:
            found.append(f"{' and '.join(sorted(names))} repeat: {block[0]} ...")
        if block in in_package:
            found.append(f"{', '.join(sorted(names))} repeat {in_package[block]}: {block[0]} ...")
    return sorted(found)


def chapter_code(nb: dict) -> list[str]:
    """The code cells a reader reads (not the setup cell, which must be the same everywhere, nor the parameters)."""
    return [
        source(cell)
        for cell in nb["cells"]
        if cell["cell_type"] == "code"
        and not {"parameters", "remove-cell"} & set(cell.get("metadata", {}).get("tags", []))
    ]


def test_no_block_of_code_is_written_twice():
    chapters = {nb.stem: chapter_code(load(nb)) for nb in NOTEBOOKS}
    package = {p.name: p.read_text() for p in sorted((REPO_ROOT / "src" / "alexnet_book").glob("*.py"))}
    repeats = repeated_blocks(chapters, package)
    assert not repeats, "move these into the package, once:\n" + "\n".join(repeats)


def test_the_repeat_check_finds_repeats():
    block = "\n".join(f"x{i} = f({i})" for i in range(REPEAT_WINDOW))
    chapters = {"a": ["import os\n" + block], "b": ["# the same\n" + block + "\nprint(x0)"]}
    assert repeated_blocks(chapters, {}) == ["a and b repeat: x0 = f(0) ..."]
    assert repeated_blocks({"a": [block]}, {"m.py": block}) == ["a repeat m.py: x0 = f(0) ..."]
    shorter = "\n".join(block.splitlines()[:-1])
    assert repeated_blocks({"a": [shorter], "b": [shorter]}, {"m.py": shorter}) == []


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_chapter_ran_on_the_backend_of_the_test_run(notebook, executions):
    """Each chapter prints its backend (start_page): a KERAS_BACKEND left in the kernels' environment would run every
    chapter on another backend than the one under test. A chapter that sets its own backend is exempt."""
    _, error = executions.run(notebook)
    own_backend = any('os.environ["KERAS_BACKEND"]' in code for code in chapter_code(load(notebook)))
    if error is not None or own_backend:
        pytest.skip("failed (see its papermill test) or chooses its own backend")
    printed = json.loads((BOOK_COPY / notebook.relative_to(REPO_ROOT)).read_text())
    text = "".join("".join(o.get("text", "")) for c in printed["cells"] for o in c.get("outputs", []))
    assert f"backend {BACKEND}" in text, f"{notebook.name} did not run on {BACKEND}"


def test_the_chapters_read_the_data_the_test_run_names(executions):
    """Where the test run names a CIFAR-10 folder (.ci/run names the real subset), every chapter that reads data read
    that folder; where it names none, none did (the variable reaches the kernels only when asked)."""
    data_lines = {}
    for notebook in NOTEBOOKS:
        if executions.run(notebook)[1] is None:
            printed = json.loads((BOOK_COPY / notebook.relative_to(REPO_ROOT)).read_text())
            text = "".join("".join(o.get("text", "")) for c in printed["cells"] for o in c.get("outputs", []))
            data_lines[notebook.name] = [line for line in text.splitlines() if line.startswith("data: ")]
    readers = {name: lines for name, lines in data_lines.items() if lines}
    assert len(readers) >= 4, f"fewer chapters than expected printed where their data came from: {sorted(readers)}"
    for name, lines in readers.items():
        from_folder = [line for line in lines if line.startswith("data: CIFAR-10 from the folder ")]
        if NOTEBOOK_DATA_DIR:
            named = {NOTEBOOK_DATA_DIR.rstrip("/"), str(Path(NOTEBOOK_DATA_DIR).resolve())}
            assert len(from_folder) == len(lines), f"{name} did not read the folder the test run named: {lines}"
            assert all(any(folder in line for folder in named) for line in lines), f"{name}: {lines}"
        else:
            assert not from_folder, f"{name} read a folder no one named: {lines}"


def test_every_chapter_notebook_is_in_the_table_of_contents():
    listed = {nb.resolve() for nb in NOTEBOOKS}
    orphans = [p.name for p in (REPO_ROOT / "chapters").glob("*.ipynb") if p.resolve() not in listed]
    assert not orphans, f"add these to _toc.yml (or they are never built nor tested): {orphans}"
    assert NOTEBOOKS, "no notebooks listed in _toc.yml"


def test_every_toc_entry_exists():
    missing = [f for f in toc_files() if not any((REPO_ROOT / f"{f}{s}").exists() for s in (".ipynb", ".md"))]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_notebook_is_stored_clean(notebook):
    nb = load(notebook)
    dirty = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, (
        f"{notebook.name}: cells {dirty} have outputs or execution counts; clear them (make clean-notebooks)"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_notebook_has_the_anatomy_of_a_chapter(notebook):
    nb = load(notebook)
    assert re.fullmatch(r"[0-9]{2}_[a-z0-9_]+\.ipynb", notebook.name), "chapters are named NN_snake_case.ipynb"
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown" and source(first).startswith("# "), (
        "the first cell must start with the # Title"
    )
    titles = [
        line
        for c in nb["cells"]
        if c["cell_type"] == "markdown"
        for line in source(c).splitlines()
        if line.startswith("# ")
    ]
    assert len(titles) == 1, f"one H1 per chapter, found {titles}"
    parameters = tagged(nb, "parameters")
    assert len(parameters) == 1, "exactly one cell tagged 'parameters' (papermill injects the run's values after it)"
    for node in ast.parse(source(parameters[0])).body:
        assert isinstance(node, ast.Assign), "the parameters cell holds assignments only"
        ast.literal_eval(node.value)  # raises unless the value is a literal, as papermill needs
    assert "PROFILE" in source(parameters[0]), "every chapter takes PROFILE (smoke/quick/full/auto)"
    code = "\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "## Summary" in code and "## Exercises" in code, "a chapter ends with ## Summary and ## Exercises"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_setup_cell_is_the_same_everywhere_and_names_the_configured_repository(notebook):
    expected = setup_cell(load(CANONICAL_SETUP_NOTEBOOK))
    assert setup_cell(load(notebook)) == expected, f"{notebook.name}: the setup cell differs from chapter 1's"
    url = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    assert f'"git+{url}.git"' in expected, f"the setup cell must install from _config.yml's repository ({url})"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_notebook_runs_under_papermill(notebook, executions):
    seconds, error = executions.run(notebook)
    assert error is None, f"{notebook.name} failed under papermill after {seconds:.0f} s:\n{error}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_executed_chapter_printed_no_python_warning_or_error(notebook, executions):
    # The one check of error output, read in the executed notebook the site is built from, not on the page: the
    # page shows what this sees but stderr, which _config.yml removes (stderr_output: remove, for TensorFlow's log
    # lines), and a warning that chapter code prints would go with it.
    executions.run(notebook)
    executed = BOOK_COPY / notebook.relative_to(REPO_ROOT)
    assert executed.exists(), f"{notebook.name}: papermill wrote no executed copy at {executed}"
    problems = problems_in_outputs(load(executed))
    assert not problems, (
        f"{notebook.name} (executed copy {executed}) printed a Python warning or error; fix its cause (or, if it is "
        "a library's and harmless, silence that one warning in the chapter):\n" + "\n".join(problems)
    )


def test_the_output_check_sees_python_warnings_and_lets_tensorflow_logs_pass():
    # Guards the test above: real lines from a chapter run (TensorFlow's) must pass, a Python warning must not.
    def notebook(*outputs):
        return {"cells": [{"cell_type": "code", "source": "", "outputs": list(outputs)}]}

    def stderr(text):
        return {"output_type": "stream", "name": "stderr", "text": text}

    tensorflow = stderr(
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795909703.659798   32185 port.cc:153] oneDNN custom operations are on. You may see slightly "
        "different numerical results due to floating-point round-off errors from different computation orders.\n"
        "E0000 00:00:1795909709.727549   32185 meta_optimizer.cc:967] model_pruner failed: INVALID_ARGUMENT: "
        "NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition\n"
        "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
        "appropriate compiler flags.\n"
        "2024-05-01 12:00:00.123456: W tensorflow/core/framework/op_kernel.cc:1840] OP_REQUIRES failed\n"
    )
    assert problems_in_outputs(notebook(tensorflow, {"output_type": "stream", "name": "stdout", "text": "Error"})) == []
    warning = stderr("/tmp/ipykernel_1/123.py:3: UserWarning: the mean is wrong\n  warnings.warn(\n")
    assert problems_in_outputs(notebook(tensorflow, warning)) == [
        "cell 0: stderr /tmp/ipykernel_1/123.py:3: UserWarning: the mean is wrong",
        "cell 0: stderr warnings.warn(",
    ]
    assert problems_in_outputs(notebook(stderr(["WARNING:absl:", "You are saving your model as an HDF5 file\n"])))
    error = {"output_type": "error", "ename": "ValueError", "evalue": "bad shape", "traceback": []}
    assert problems_in_outputs(notebook(error)) == ["cell 0: error output ValueError: bad shape"]
    printed = {"output_type": "stream", "name": "stdout", "text": ["Traceback (most recent call last):\n", "..."]}
    result = {"output_type": "execute_result", "data": {"text/plain": "Traceback (most recent call last): ..."}}
    assert problems_in_outputs(notebook(printed, result)) == [
        "cell 0: a traceback in its stdout output",
        "cell 0: a traceback in its execute_result output",
    ]


def test_site_builds_without_warnings(built_site):
    assert (built_site / "index.html").exists()
