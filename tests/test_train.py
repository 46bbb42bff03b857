"""alexnet_book.train: a run learns, is reproducible, resumes after a kill, refuses bad settings and never
overwrites another run. They train a tiny CNN (tests/tiny_model.py) on the stand-in data, to stay fast; the real
AlexNet trains in chapter 6 under papermill (smoke, asserting it beats chance) and in tests/rehearse_full.py."""

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

if "keras" not in sys.modules:  # keep Keras's cache out of the reader's home without the suite's conftest too
    os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="alexnet-book-test-train-"))

import numpy as np
import pytest
from tiny_model import build_tiny_training_model

import alexnet_book.train as training
from alexnet_book.data import load_cifar10
from alexnet_book.train import (
    RunFiles,
    RunFolderError,
    StepDownOnPlateau,
    TrainConfig,
    TrainingOutOfMemory,
    main,
    train,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def tiny_model(monkeypatch):
    """Every test here trains the tiny CNN."""
    monkeypatch.setattr(training, "build_training_model", build_tiny_training_model)


@pytest.fixture(scope="module")
def standin():
    return load_cifar10(profile="smoke", download=False, standin_size=(3000, 400))


def tiny(folder, **settings):
    values = dict(
        profile="smoke",
        download=False,
        output_dir=None if folder is None else str(folder),
        epochs=2,
        train_size=600,
        validation_size=150,
        test_size=200,
        learning_rate=0.01,
        verbose=0,
    )
    values.update(settings)
    return TrainConfig(**values)


def test_short_run_learns_and_records_everything(tmp_path, standin):
    result = train(tiny(tmp_path / "run", epochs=4, train_size=1200), data=standin)
    assert result.test_accuracy > 0.8  # chance is 0.10, colour statistics alone about the same (test_data.py)
    assert result.history["epoch"] == [0, 1, 2, 3]
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.y_true.shape == result.y_pred.shape == (200,) and result.probabilities.shape == (200, 10)
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-4)
    np.testing.assert_array_equal(result.y_true, standin.y_test[result.test_indices])
    assert result.test_accuracy == pytest.approx(np.mean(result.y_pred == result.y_true))
    assert result.images_per_second > 0 and result.training_seconds > 0 and result.wall_seconds > 0
    assert result.data_source == "standin" and result.precision == "float32" and result.device.startswith("CPU")
    assert not result.jit_compile  # off on a CPU, where XLA made training slower
    files = RunFiles(tmp_path / "run")
    assert files.best_checkpoint.exists() and files.history.exists() and not files.backup.exists()
    manifest = json.loads(files.manifest.read_text())
    assert manifest["status"] == "complete" and manifest["identity"]["epochs"] == 4
    assert manifest["in_force"] == {"precision": "float32", "jit_compile": False, "loss_scaling": False}
    assert result.best_epoch == 1 + int(np.argmax(result.history["val_accuracy"]))
    reloaded = result.load_best_model()
    np.testing.assert_allclose(
        reloaded.predict(standin.x_test[result.test_indices], verbose=0), result.probabilities, atol=1e-5
    )


def test_same_seed_same_history_other_seed_other_history(tmp_path, standin):
    first = train(tiny(tmp_path / "a", seed=7), data=standin)
    second = train(tiny(tmp_path / "b", seed=7), data=standin)
    other = train(tiny(tmp_path / "c", seed=8), data=standin)
    for column in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert first.history[column] == second.history[column], column
    np.testing.assert_array_equal(first.probabilities, second.probabilities)
    assert first.history["loss"] != other.history["loss"]


def test_learning_rate_steps_down_on_a_plateau_at_most_three_times():
    schedule = StepDownOnPlateau(patience=1)
    drops = [schedule.update(error) for error in [0.9, 0.5, 0.6, 0.4, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3]]
    assert drops == [False, False, True, False, True, False, True, False, False, False]
    assert schedule.reductions == 3  # the paper divided by 10 three times; no fourth
    patient = StepDownOnPlateau(patience=2)
    assert [patient.update(error) for error in [0.5, 0.5, 0.5, 0.5, 0.5]] == [False, False, True, False, True]
    rebuilt = StepDownOnPlateau(patience=1, past_errors=[0.9, 0.5, 0.6, 0.4, 0.4])
    assert (rebuilt.best, rebuilt.wait, rebuilt.reductions) == (0.4, 0, 2)


def test_the_schedule_watches_the_validation_error_not_the_penalised_loss():
    """val_loss falls every epoch (the decay shrinks the weight penalty inside it) while the error stands still:
    the paper's rule must drop the rate all the same."""
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    schedule = StepDownOnPlateau(patience=2)
    schedule.set_model(model)
    rates = []
    for epoch, val_loss in enumerate([3.0, 2.9, 2.8, 2.7]):
        logs = {"val_loss": val_loss, "val_accuracy": 0.5}
        schedule.on_epoch_end(epoch, logs)
        rates.append(logs["learning_rate"])
    assert rates == pytest.approx([0.01, 0.01, 0.01, 0.001])


def test_learning_rate_in_the_history_drops_by_ten_at_most_three_times(tmp_path, standin):
    # A rate so small, and BatchNormalization statistics frozen (momentum 1), that the validation loss cannot move:
    # every epoch after the first is a plateau.
    result = train(
        tiny(tmp_path / "lr", learning_rate=1e-9, batchnorm_momentum=1.0, plateau_patience=1, epochs=5, train_size=160),
        data=standin,
    )
    assert result.history["learning_rate"] == pytest.approx([1e-9, 1e-9, 1e-10, 1e-11, 1e-12], rel=1e-5)


def command(folder, *extra):
    return [
        sys.executable,
        "-m",
        "alexnet_book.train",
        "--profile",
        "smoke",
        "--no-download",
        "--output-dir",
        str(folder),
        "--epochs",
        "3",
        "--train-size",
        "600",
        "--validation-size",
        "100",
        "--test-size",
        "100",
        "--quiet",
        *extra,
    ]


# Runs the command line in a subprocess with a fault injected at an exact point: the process kills itself
# (SIGKILL, no clean-up) when EpochCommit is about to commit epoch 2, after that epoch's weights file is written
# and before the rename that commits it. It saves the weights and optimizer state it committed for epoch 1.
KILLING_DRIVER = """
import os, signal, sys
import numpy as np
import alexnet_book.train as training
import tiny_model

tiny_model.use_tiny_model()
from tiny_model import build_tiny_training_model

original = training.EpochCommit.commit

def commit(self, state):
    if state["epochs_done"] == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    original(self, state)
    arrays = [np.asarray(v) for v in self.model.weights + self.model.optimizer.variables]
    np.savez(sys.argv[1], *arrays)

training.EpochCommit.commit = commit
sys.exit(training.main(sys.argv[2:]))
"""

# Resumes the run and saves the weights and optimizer state as restored, before any training.
RESUMING_DRIVER = """
import sys
import numpy as np
import alexnet_book.train as training
import tiny_model

tiny_model.use_tiny_model()
from tiny_model import build_tiny_training_model

original = training._restore

def restore(model, files, state):
    original(model, files, state)
    np.savez(sys.argv[1], *[np.asarray(v) for v in model.weights + model.optimizer.variables])

training._restore = restore
sys.exit(training.main(sys.argv[2:]))
"""


def history_rows(path):
    return path.read_text().splitlines()[1:] if path.exists() else []


def test_a_run_killed_while_committing_an_epoch_resumes_from_the_last_commit(tmp_path):
    folder, files = tmp_path / "run", RunFiles(tmp_path / "run")
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(Path(__file__).parent)}
    killed = subprocess.run(
        [sys.executable, "-c", KILLING_DRIVER, str(tmp_path / "committed.npz"), *command(folder)[3:]],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert [row.split(",")[0] for row in history_rows(files.history)] == ["0"]
    assert sorted(p.name for p in files.backup.iterdir()) == [
        "epoch-1.weights.h5",
        "epoch-2.weights.h5",
        "state.json",
    ]  # epoch 2's weights, never committed
    assert json.loads(files.manifest.read_text())["status"] == "running"

    finished = subprocess.run(
        [sys.executable, "-c", RESUMING_DRIVER, str(tmp_path / "restored.npz"), *command(folder)[3:]],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    committed, restored = np.load(tmp_path / "committed.npz"), np.load(tmp_path / "restored.npz")
    assert len(committed.files) == len(restored.files) > 10
    for name in committed.files:  # weights, BatchNormalization statistics, momentum, step count, learning rate
        np.testing.assert_array_equal(restored[name], committed[name])
    assert [int(row.split(",")[0]) for row in history_rows(files.history)] == [0, 1, 2]  # every epoch once
    assert json.loads(files.results.read_text())["resumed_from_epoch"] == 1
    assert json.loads(files.manifest.read_text())["status"] == "complete"
    assert not files.backup.exists() and files.best_checkpoint.exists()
    assert "test accuracy" in finished.stdout


def test_an_interruption_after_the_commit_keeps_every_epoch(tmp_path, standin, monkeypatch):
    """Interrupted between the commit of epoch 2 and writing history.csv: the commit holds the row."""
    folder, files = tmp_path / "run", RunFiles(tmp_path / "run")
    written = []
    original = training._write_history

    def interrupted(path, rows):
        if len(rows) == 2:
            raise KeyboardInterrupt("interrupted after the commit of epoch 2")
        written.append(len(rows))
        original(path, rows)

    monkeypatch.setattr(training, "_write_history", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(folder, epochs=3), data=standin)
    assert len(history_rows(files.history)) == 1 and json.loads(files.backup_state.read_text())["epochs_done"] == 2
    monkeypatch.setattr(training, "_write_history", original)
    resumed = train(tiny(folder, epochs=3), data=standin)
    assert resumed.resumed_from_epoch == 2 and resumed.history["epoch"] == [0, 1, 2]
    assert [int(row.split(",")[0]) for row in history_rows(files.history)] == [0, 1, 2]


def test_a_folder_that_contradicts_itself_is_refused_and_untouched(tmp_path, standin, monkeypatch):
    folder, files = tmp_path / "run", RunFiles(tmp_path / "run")

    def stop(path, rows):
        raise KeyboardInterrupt

    original = training._write_history
    monkeypatch.setattr(training, "_write_history", stop)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(folder, epochs=3), data=standin)
    monkeypatch.setattr(training, "_write_history", original)  # not undo(): that would drop the tiny model too
    (files.backup / "epoch-1.weights.h5").unlink()  # the weights the commit names are gone
    snapshot = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(RunFolderError, match="names epoch-1.weights.h5, which is missing. Nothing was changed"):
        train(tiny(folder, epochs=3), data=standin)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == snapshot
    replaced = train(tiny(folder, epochs=3, overwrite=True), data=standin)  # what the message offers
    assert replaced.resumed_from_epoch == 0 and replaced.history["epoch"] == [0, 1, 2]


def test_a_finished_run_whose_results_were_deleted_is_tested_again_not_retrained(tmp_path, standin):
    folder, files = tmp_path / "run", RunFiles(tmp_path / "run")
    first = train(tiny(folder, epochs=2), data=standin)
    checkpoint, history = files.best_checkpoint.read_bytes(), files.history.read_text()
    files.results.unlink()
    again = train(tiny(folder, epochs=2), data=standin)
    assert again.history == first.history and again.test_accuracy == first.test_accuracy
    assert files.best_checkpoint.read_bytes() == checkpoint and files.history.read_text() == history
    assert files.results.exists() and again.precision == first.precision and again.jit_compile == first.jit_compile
    files.results.unlink()
    files.best_checkpoint.unlink()
    snapshot = {p: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with pytest.raises(RunFolderError, match="best.keras or history.csv is missing"):
        train(tiny(folder, epochs=2), data=standin)
    assert {p: p.read_bytes() for p in folder.iterdir() if p.is_file()} == snapshot


class ResourceExhaustedError(Exception):
    """Stands in for tensorflow.errors.ResourceExhaustedError (the rehearsal raises the backends' own)."""


def test_running_out_of_device_memory_says_what_to_do(tmp_path, standin, monkeypatch, capsys):
    import keras

    def out_of_memory(*args, **kwargs):
        raise ResourceExhaustedError("OOM when allocating tensor with shape[128,96,55,55]")

    monkeypatch.setattr(keras.Model, "fit", out_of_memory)
    expected = r"ran out of memory on .* with batches of 64\..*\(batch_size=32 / --batch-size 32;"
    with pytest.raises(TrainingOutOfMemory, match=expected):
        train(tiny(tmp_path / "run", batch_size=64), data=standin)
    code = main(
        [
            "--profile",
            "smoke",
            "--no-download",
            "--quiet",
            "--batch-size",
            "64",
            "--output-dir",
            str(tmp_path / "cli"),
        ]
    )
    error = capsys.readouterr().err
    assert code == 2 and "ran out of memory" in error and "Traceback" not in error


def test_other_errors_are_not_taken_for_out_of_memory(tmp_path, standin, monkeypatch):
    import keras

    def broken(*args, **kwargs):
        raise ValueError("a shape mismatch")

    monkeypatch.setattr(keras.Model, "fit", broken)
    with pytest.raises(ValueError, match="a shape mismatch"):
        train(tiny(tmp_path / "run"), data=standin)


def test_another_run_in_the_folder_is_never_overwritten(tmp_path, standin):
    folder = tmp_path / "run"
    first = train(tiny(folder, epochs=2), data=standin)
    files = RunFiles(folder)
    snapshot = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with pytest.raises(RunFolderError, match="holds a run with other settings .*epochs: 2 there, 3 now"):
        train(tiny(folder, epochs=3), data=standin)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == snapshot

    again = train(tiny(folder, epochs=2), data=standin)  # the same settings: the finished run is reused
    assert again.reused and again.history == first.history and again.test_accuracy == first.test_accuracy
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == snapshot

    replaced = train(tiny(folder, epochs=3, overwrite=True), data=standin)
    assert not replaced.reused and replaced.history["epoch"] == [0, 1, 2]
    assert json.loads(files.manifest.read_text())["identity"]["epochs"] == 3


def test_without_an_output_dir_each_setting_gets_its_own_folder(tmp_path, standin, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = train(tiny(None, epochs=1), data=standin)
    other = train(tiny(None, epochs=2), data=standin)
    again = train(tiny(None, epochs=1), data=standin)
    assert first.output_dir != other.output_dir and again.output_dir == first.output_dir and again.reused
    assert first.output_dir.parent == Path("runs") and first.output_dir.name.startswith("training-smoke-")


def test_an_old_run_is_named_as_such(tmp_path, standin):
    folder = tmp_path / "run"
    train(tiny(folder, epochs=1), data=standin)
    manifest = RunFiles(folder).manifest
    old = json.loads(manifest.read_text())
    old["identity"].pop("run_format")
    old["identity"]["architecture"] = "alexnet"
    manifest.write_text(json.dumps(old))
    expected = f"run_format: None there, {training.RUN_FORMAT} now; architecture: 'alexnet' there, None now"
    with pytest.raises(RunFolderError, match=expected):
        train(tiny(folder, epochs=1), data=standin)


def test_a_folder_of_other_files_is_refused_and_kept(tmp_path, standin):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.txt").write_text("precious")
    with pytest.raises(RunFolderError, match="holds files of something else \\(thesis.txt\\)"):
        train(tiny(folder), data=standin)
    train(tiny(folder, epochs=1, overwrite=True), data=standin)
    assert (folder / "thesis.txt").read_text() == "precious"  # overwrite replaces runs, never other files


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(profile="huge"), "unknown profile 'huge'"),
        (dict(epochs=0), "epochs must be a positive whole number"),
        (dict(batch_size=-4), "batch_size must be a positive whole number"),
        (dict(batch_size=2.5), "batch_size must be a positive whole number"),
        (dict(learning_rate=0), "learning_rate must be > 0"),
        (dict(momentum=1.5), "momentum must be >= 0"),
        (dict(precision="float8"), "precision must be one of"),
        (dict(jit_compile="yes"), "jit_compile must be True, False or 'auto'"),
        (dict(data_dir="/no/such/cifar"), "data_dir '/no/such/cifar' is not an existing folder"),
        (dict(seed=-1), "seed must be a whole number >= 0"),
    ],
)
def test_bad_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)


def test_output_dir_that_is_a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        TrainConfig(output_dir=str(path))


def test_asking_for_more_images_than_there_are(tmp_path, standin):
    with pytest.raises(ValueError, match="train_size=5000 but the standin data has only 2400"):
        train(tiny(tmp_path / "run", train_size=5000), data=standin)
    assert not (tmp_path / "run").exists()  # nothing was written


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "epochs must be a positive whole number"),
        (["--profile", "huge"], "invalid choice: 'huge'"),
        (["--batch-size", "many"], "invalid int value: 'many'"),
        (["--data-dir", "/no/such/cifar"], "is not an existing folder"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_command_line_rejects_bad_flags(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_command_line_reports_a_refused_folder_without_a_traceback(tmp_path, capsys):
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "other.txt").write_text("x")
    code = main(["--profile", "smoke", "--no-download", "--output-dir", str(folder), "--quiet"])
    assert code == 2
    assert "holds files of something else" in capsys.readouterr().err
