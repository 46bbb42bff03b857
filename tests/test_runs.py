"""alexnet_book.runs: one process per run folder, nothing committed is ever thrown away, and a damaged file is
named with its fix. Every refused folder is left byte for byte as it was. The folders come from real runs of the
tiny CNN (tests/tiny_model.py) on the stand-in, copied from two made once: a finished run and an interrupted one."""

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_model import build_tiny_training_model, tiny_config

import alexnet_book.callbacks as callbacks
import alexnet_book.runs as runs
import alexnet_book.train as training
from alexnet_book.data import load_cifar10
from alexnet_book.runs import Manifest, RunFiles, RunFolderError, RunSummary
from alexnet_book.train import main, train

INTERRUPTED_AFTER = 2  # of 3 epochs


def tiny(folder, epochs=2):
    """The settings of every run here: small, so that a folder is made in seconds."""
    return tiny_config(folder, epochs=epochs, train_size=320, validation_size=80, test_size=100)


@pytest.fixture(autouse=True)
def tiny_model(monkeypatch):
    monkeypatch.setattr(training, "build_training_model", build_tiny_training_model)


@pytest.fixture(scope="module")
def standin():
    return load_cifar10(profile="smoke", download=False, standin_size=(500, 200))


@pytest.fixture(scope="module")
def made(standin, tmp_path_factory):
    """A finished run (2 epochs) and a run interrupted after committing 2 of its 3 epochs, to copy."""
    root = tmp_path_factory.mktemp("made")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "build_training_model", build_tiny_training_model)
        train(tiny(root / "finished"), data=standin)
        original = callbacks.EpochCommit.commit

        def interrupt(self, state):
            original(self, state)
            if state["epochs_done"] == INTERRUPTED_AFTER:
                raise KeyboardInterrupt

        patch.setattr(callbacks.EpochCommit, "commit", interrupt)
        with pytest.raises(KeyboardInterrupt):
            train(tiny(root / "interrupted", epochs=3), data=standin)
    return root


def copy_of(made, name, tmp_path) -> RunFiles:
    shutil.copytree(made / name, tmp_path / name)
    return RunFiles(tmp_path / name)


def snapshot(folder: Path) -> dict:
    return {path.relative_to(folder): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def refused(files: RunFiles, config, data, match: str) -> None:
    """train refuses the folder with that message and leaves every byte of it as it was."""
    before = snapshot(files.folder)
    with pytest.raises(RunFolderError, match=match):
        train(config, data=data)
    assert snapshot(files.folder) == before


# A second process: it holds the lock of FOLDER until it is killed (no Keras: it starts in a moment).
HOLDER = """
import sys, time
from alexnet_book.runs import RunFiles, RunLock
RunLock(RunFiles(sys.argv[1])).acquire()
print("holding", flush=True)
time.sleep(120)
"""

# Another: it tries to lock FOLDER once and prints what it was told.
CONTENDER = """
import sys
from alexnet_book.runs import RunFiles, RunFolderError, RunLock
try:
    RunLock(RunFiles(sys.argv[1])).acquire()
    print("locked")
except RunFolderError as error:
    print(error)
"""


def test_one_process_per_run_folder(made, standin, tmp_path, monkeypatch):
    """A run in a folder that another process holds is refused at once, naming that process, and changes
    nothing; the lock dies with its process (SIGKILL too); and a training run holds the lock for as long as it
    runs (a process that tries meanwhile is refused, named by this one)."""
    files = copy_of(made, "interrupted", tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(files.folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "holding\n"
        expected = rf"{files.folder} is in use: process {holder.pid} on {socket.gethostname()}, started 20"
        before = {name: data for name, data in snapshot(files.folder).items() if name.name != RunFiles.LOCK}
        with pytest.raises(RunFolderError, match=expected):
            train(tiny(files.folder, epochs=3), data=standin)
        assert {name: data for name, data in snapshot(files.folder).items() if name.name != RunFiles.LOCK} == before
    finally:
        holder.kill()
        holder.wait()
    assert holder.returncode == -signal.SIGKILL and files.lock.exists()  # left behind, but no longer locked

    told = []
    original = callbacks.EpochCommit.commit

    def commit_and_ask(self, state):
        original(self, state)
        contender = subprocess.run([sys.executable, "-c", CONTENDER, str(files.folder)], capture_output=True, text=True)
        told.append(contender.stdout.strip() or contender.stderr)

    monkeypatch.setattr(callbacks.EpochCommit, "commit", commit_and_ask)
    result = train(tiny(files.folder, epochs=3), data=standin)
    assert result.resumed_from_epoch == INTERRUPTED_AFTER and result.history["epoch"] == [0, 1, 2]
    assert len(told) == 1 and f"is in use: process {os.getpid()} on {socket.gethostname()}" in told[0], told
    assert not files.lock.exists()  # let go when the run ended


@pytest.mark.parametrize("deleted", [("backup/state.json",), ("backup/state.json", "history.csv")])
def test_committed_epochs_without_the_state_that_names_them_are_refused(made, standin, tmp_path, deleted):
    files = copy_of(made, "interrupted", tmp_path)
    for name in deleted:
        (files.folder / name).unlink()
    refused(
        files, tiny(files.folder, epochs=3), standin, "holds epochs this run committed .* but not backup/state.json"
    )


def test_a_finished_runs_files_in_a_folder_marked_running_are_refused(made, standin, tmp_path):
    files = copy_of(made, "finished", tmp_path)
    manifest = json.loads(files.manifest.read_text())
    files.manifest.write_text(json.dumps({**manifest, "status": "running"}))
    refused(files, tiny(files.folder), standin, r"holds a finished run's files \(best.keras, results.json")


def test_a_damaged_run_json_beside_a_valid_backup_is_the_same_run(made, standin, tmp_path):
    files = copy_of(made, "interrupted", tmp_path)
    files.manifest.write_bytes(files.manifest.read_bytes()[:40])
    result = train(tiny(files.folder, epochs=3), data=standin)
    assert result.resumed_from_epoch == INTERRUPTED_AFTER and result.history["epoch"] == [0, 1, 2]
    assert Manifest.read(files).status == "complete"  # written again


def test_a_damaged_run_json_without_a_backup_is_refused(made, standin, tmp_path):
    files = copy_of(made, "finished", tmp_path)
    files.manifest.write_bytes(files.manifest.read_bytes()[:40])
    refused(files, tiny(files.folder), standin, "holds a run whose run.json is unreadable .* and no backup")


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    "made_as, damaged, deleted, fix",
    [
        ("finished", "results.json", None, "Delete it and run the same command"),
        ("finished", "predictions.npz", None, "Delete it and run the same command"),
        ("finished", "best.keras", "results.json", "The model is lost: pass overwrite=True"),
        ("interrupted", "backup/epoch-2.weights.h5", None, "The run cannot resume from these weights"),
    ],
)
def test_a_damaged_file_is_named_with_its_fix(
    made, standin, tmp_path, made_as, damaged, deleted, fix, monkeypatch, capsys
):
    files = copy_of(made, made_as, tmp_path)
    truncate(files.folder / damaged)
    if deleted:
        (files.folder / deleted).unlink()
    epochs = 3 if made_as == "interrupted" else 2
    refused(files, tiny(files.folder, epochs=epochs), standin, f"{damaged} is truncated or unreadable .*{fix}")

    # the command line: one line, status 2 (it loads its own data: the same stand-in, by the same settings)
    monkeypatch.setattr(training, "load_data", lambda settings: standin)
    argv = [
        "--profile",
        "smoke",
        "--no-download",
        "--quiet",
        "--output-dir",
        str(files.folder),
        "--epochs",
        str(epochs),
    ]
    argv += ["--train-size", "320", "--validation-size", "80", "--test-size", "100", "--learning-rate", "0.01"]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("error: ") and f"{damaged} is truncated" in error[-1] and "Traceback" not in error


def test_a_truncated_best_keras_is_named_when_loaded(made, tmp_path):
    files = copy_of(made, "finished", tmp_path)
    truncate(files.best_checkpoint)
    with pytest.raises(RunFolderError, match="best.keras is truncated or unreadable .* The model is lost"):
        training.load_model_file(files.best_checkpoint)


def test_the_record_has_a_declared_schema(made, tmp_path):
    """results.json holds exactly RunSummary's fields and run.json Manifest's; another shape is refused by name."""
    files = copy_of(made, "finished", tmp_path)
    assert set(json.loads(files.results.read_text())) == {f for f in RunSummary.__dataclass_fields__}
    assert set(json.loads(files.manifest.read_text())) == {f for f in Manifest.__dataclass_fields__}
    summary = RunSummary.read(files)
    assert isinstance(summary.best_epoch, int) and 0 <= summary.test_accuracy <= 1
    record = json.loads(files.results.read_text())
    files.results.write_text(json.dumps({**record, "test_accuracy": "high"}))
    with pytest.raises(RunFolderError, match="results.json is truncated or unreadable \\(test_accuracy is 'high'\\)"):
        RunSummary.read(files)
    files.results.write_text(json.dumps({k: v for k, v in record.items() if k != "device"}))
    with pytest.raises(RunFolderError, match="results.json is truncated or unreadable \\(its fields are"):
        RunSummary.read(files)


def test_a_folder_that_cannot_be_written_is_refused_before_the_model_is_built(standin, tmp_path, monkeypatch):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the folder answer as a read-only file system does

        def read_only(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(runs.tempfile, "TemporaryFile", read_only)

    def never(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(training, "build_training_model", never)
    try:
        with pytest.raises(RunFolderError, match=f"Cannot write in the output folder {folder}: .*Nothing was trained"):
            train(tiny(folder), data=standin)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_history_round_trips_through_its_view(tmp_path):
    rows = [{"epoch": 0, "loss": 2.5, "val_accuracy": 0.25}, {"epoch": 1, "loss": 1.0 / 3, "val_accuracy": 0.5}]
    path = tmp_path / "history.csv"
    runs.write_history(path, rows)
    assert (
        runs.read_history(path)
        == runs.history_columns(rows)
        == {
            "epoch": [0, 1],
            "loss": [2.5, 1.0 / 3],
            "val_accuracy": [0.25, 0.5],
        }
    )
    np.testing.assert_equal(runs.history_columns([{"epoch": 0, "loss": ""}])["loss"], [np.nan])
