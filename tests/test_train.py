"""alexnet_book.train: a run learns, is reproducible, resumes after a kill exactly as if it had not been
interrupted, refuses bad settings, never overwrites another run, and its command line answers in one line. They
train a tiny CNN with dropout (tests/tiny_model.py) on the stand-in data, to stay fast; the real AlexNet trains in
chapter 6 under papermill (smoke, asserting it beats chance) and in tests/rehearse_full.py. The run folder's own
guarantees (the lock, damaged and orphaned files) are in tests/test_runs.py."""

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
from tiny_model import tiny_config as tiny

import alexnet_book.callbacks as callbacks
import alexnet_book.runs as runs
import alexnet_book.train as training
from alexnet_book.data import load_cifar10, write_python_batches
from alexnet_book.hardware import precision_policy
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
    expected = precision_policy()  # float32, or mixed_bfloat16 on a CPU with bfloat16 units (TensorFlow)
    assert result.data_source == "standin" and result.precision == expected and result.device.startswith("CPU")
    assert not result.jit_compile  # off on a CPU, where XLA made training slower
    files = RunFiles(tmp_path / "run")
    assert files.best_checkpoint.exists() and files.history.exists() and not files.backup.exists()
    manifest = json.loads(files.manifest.read_text())
    assert manifest["status"] == "complete" and manifest["identity"]["epochs"] == 4
    assert manifest["in_force"] == {"precision": expected, "jit_compile": False, "loss_scaling": False}
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


def test_the_history_records_the_rate_the_schedule_set(tmp_path, standin):
    # A rate so small, and BatchNormalization statistics frozen (momentum 1), that the validation error cannot move:
    # every epoch after the first is a plateau. (The cap of three drops is the schedule's own test, above.)
    result = train(
        tiny(tmp_path / "lr", learning_rate=1e-9, batchnorm_momentum=1.0, plateau_patience=1, epochs=3, train_size=160),
        data=standin,
    )
    assert result.history["learning_rate"] == pytest.approx([1e-9, 1e-9, 1e-10], rel=1e-5)


def command(folder, *extra, epochs=3):
    return [
        "--profile",
        "smoke",
        "--no-download",
        "--output-dir",
        str(folder),
        "--epochs",
        str(epochs),
        "--train-size",
        "600",
        "--validation-size",
        "100",
        "--test-size",
        "100",
        "--learning-rate",
        "0.01",
        "--quiet",
        *extra,
    ]


# Runs the command line in a subprocess that kills itself (SIGKILL, no clean-up) when EpochCommit is about to
# commit epoch KILL_AT (0: never), after that epoch's weights file is written and before the rename that commits
# it. It saves the weights and optimizer state of its last commit, and those it restored when it resumed.
DRIVER = """
import os, signal, sys
import numpy as np
import alexnet_book.train as training
import tiny_model

tiny_model.use_tiny_model()
kill_at, record = int(sys.argv[1]), sys.argv[2]
commit, restore = training.EpochCommit.commit, training.restore_committed_epoch

def state_of(model):
    return [np.asarray(v) for v in model.weights + model.optimizer.variables]

def committing(self, state):
    if state["epochs_done"] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    commit(self, state)
    np.savez(record + "-committed.npz", *state_of(self.model))

def restoring(model, files, state):
    restore(model, files, state)
    np.savez(record + "-restored.npz", *state_of(model))

training.EpochCommit.commit, training.restore_committed_epoch = committing, restoring
sys.exit(training.main(sys.argv[3:]))
"""

COMPARED = ("loss", "accuracy", "cross_entropy", "val_loss", "val_accuracy", "val_cross_entropy", "learning_rate")


def history_rows(path):
    return path.read_text().splitlines()[1:] if path.exists() else []


@pytest.fixture(scope="module")
def standin_folder(standin, tmp_path_factory):
    """Some of the stand-in's images as CIFAR-10's python batches: a subprocess reads them in a moment (generating
    the stand-in takes seconds)."""
    folder = tmp_path_factory.mktemp("standin-batches")
    write_python_batches(
        folder, standin.x_train[:1000], standin.y_train[:1000], standin.x_test[:200], standin.y_test[:200]
    )
    return folder


def test_a_run_killed_at_any_epoch_resumes_exactly_as_if_it_had_not_been(tmp_path, standin_folder):
    """Killed while committing epoch 2 (so resumed after epoch 1), then while committing epoch 3 (resumed after
    epoch 2): every restore holds the last commit's arrays, and the run ends with the history, the weights and the
    predictions of a run that went straight through. The tiny CNN has dropout and flips (augment), and every epoch
    shuffles: all of it is drawn from (seed, epoch), and TensorFlow's op determinism is on (a CPU without XLA)."""
    folder, files = tmp_path / "run", RunFiles(tmp_path / "run")
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(Path(__file__).parent)}

    def session(kill_at):
        record = str(tmp_path / f"session-{kill_at}")
        extra = ("--augment", "--data-dir", str(standin_folder))
        arguments = [sys.executable, "-c", DRIVER, str(kill_at), record, *command(folder, *extra)]
        return subprocess.run(arguments, env=environment, capture_output=True, text=True, timeout=300), record

    committed = None
    for kill_at, resumes in ((2, False), (3, True), (0, True)):
        finished, record = session(kill_at)
        if kill_at:
            assert finished.returncode == -signal.SIGKILL, finished.stderr[-3000:]
            assert len(history_rows(files.history)) == kill_at - 1
            assert (files.backup / f"epoch-{kill_at}.weights.h5").exists()  # written, never committed
        else:
            assert finished.returncode == 0, finished.stderr[-3000:]
        if resumes:
            restored = np.load(record + "-restored.npz")
            assert len(restored.files) == len(committed.files) > 10
            for name in committed.files:  # weights, BatchNormalization statistics, momentum, step, learning rate
                np.testing.assert_array_equal(restored[name], committed[name])
        committed = np.load(record + "-committed.npz")
    assert json.loads(files.results.read_text())["resumed_from_epoch"] == 2
    assert json.loads(files.manifest.read_text())["status"] == "complete"
    assert not files.backup.exists() and "test accuracy" in finished.stdout

    # the same settings in this process, straight through
    settings = dict(epochs=3, validation_size=100, test_size=100, augment=True, data_dir=str(standin_folder))
    straight = train(tiny(tmp_path / "straight", **settings))
    history = runs.read_history(files.history)
    assert history["epoch"] == [0, 1, 2]
    for column in COMPARED:
        assert history[column] == straight.history[column], column
    reloaded = training.load_model_file(files.best_checkpoint)
    for ours, theirs in zip(reloaded.weights, straight.model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    np.testing.assert_array_equal(np.load(files.predictions)["probabilities"], straight.probabilities)


def test_an_interruption_after_the_commit_keeps_every_epoch(tmp_path, standin, monkeypatch):
    """Interrupted between the commit of epoch 2 and writing history.csv: the commit holds the row."""
    folder, files = tmp_path / "run", RunFiles(tmp_path / "run")
    written = []
    original = callbacks.write_history

    def interrupted(path, rows):
        if len(rows) == 2:
            raise KeyboardInterrupt("interrupted after the commit of epoch 2")
        written.append(len(rows))
        original(path, rows)

    monkeypatch.setattr(callbacks, "write_history", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(folder, epochs=3), data=standin)
    assert len(history_rows(files.history)) == 1 and json.loads(files.backup_state.read_text())["epochs_done"] == 2
    monkeypatch.setattr(callbacks, "write_history", original)
    resumed = train(tiny(folder, epochs=3), data=standin)
    assert resumed.resumed_from_epoch == 2 and resumed.history["epoch"] == [0, 1, 2]
    assert [int(row.split(",")[0]) for row in history_rows(files.history)] == [0, 1, 2]


def test_a_folder_that_contradicts_itself_is_refused_and_untouched(tmp_path, standin, monkeypatch):
    folder, files = tmp_path / "run", RunFiles(tmp_path / "run")

    def stop(path, rows):
        raise KeyboardInterrupt

    monkeypatch.setattr(callbacks, "write_history", stop)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(folder, epochs=3), data=standin)
    monkeypatch.setattr(callbacks, "write_history", runs.write_history)  # not undo(): that drops the tiny model
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


def test_command_line_speaks_in_flags(capsys):
    with pytest.raises(SystemExit):
        main(["--data-dir", "/no/such/cifar", "--epochs", "2"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--data-dir '/no/such/cifar' is not an existing folder" in error and "leave it out to download" in error
    assert "None" not in error and "data_dir" not in error


@pytest.mark.parametrize(
    "invocation, program",
    [
        (["-m", "alexnet_book.train"], "python -m alexnet_book.train"),
        ([str(Path(sys.executable).parent / "alexnet-book-train")], "alexnet-book-train"),  # pyproject's script
    ],
)
def test_help_answers_without_loading_keras_and_names_the_command(invocation, program):
    """--help (and a bad flag) must not wait for TensorFlow, nor print its log lines before the usage.
    -X importtime lists on stderr every module the command imported."""
    if not Path(invocation[0]).exists() and invocation[0] != "-m":
        pytest.skip("the package is not installed (pip install -e .), so there is no alexnet-book-train script")
    run = subprocess.run(
        [sys.executable, "-X", "importtime", *invocation, "--help"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith(f"usage: {program} ") and "--output-dir" in run.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()]
    assert imported and all(line.startswith("import time:") for line in run.stderr.splitlines())
    assert "alexnet_book.runs" in imported and not {"keras", "tensorflow", "jax"} & set(imported)


def test_command_line_announces_the_standin_and_explains_an_interruption(tmp_path, standin, monkeypatch, capsys):
    """Without data (no download here) the command line says, before training, that it trains on the stand-in and
    why; Ctrl-C gives one line that says what is kept and how to resume (exit status 130, as shells expect), and
    the same command resumes."""
    monkeypatch.setattr(training, "load_data", lambda config: standin)  # as load_cifar10 gives it, and smaller
    original = callbacks.EpochCommit.commit

    def interrupted_after_the_first_commit(self, state):
        original(self, state)
        print("training epoch", state["epochs_done"], file=sys.stderr)
        raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.EpochCommit, "commit", interrupted_after_the_first_commit)
    folder = tmp_path / "run"
    assert main(command(folder, epochs=2)) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("warning: these results will not be CIFAR-10 results")
    assert "The download was switched off" in lines[0] and "GENERATED STAND-IN" in lines[0]
    assert lines[1:] == [
        "training epoch 1",
        f"Interrupted: epoch 1 of 2 is the last one committed in {folder}. "
        "Run the same command (or cell) again to resume.",
    ]
    monkeypatch.setattr(callbacks.EpochCommit, "commit", original)
    assert main(command(folder, epochs=2)) == 0
    captured = capsys.readouterr()
    assert "standin data" in captured.out and "Traceback" not in captured.err
    assert json.loads(RunFiles(folder).results.read_text())["resumed_from_epoch"] == 1
