"""alexnet_book.train: a run learns, is reproducible, resumes after a kill, refuses bad settings and never
overwrites another run. Most tests use the tiny test architecture on the stand-in data, to stay fast; one trains
the real AlexNet at 227 with the smoke profile, as the chapter does."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if "keras" not in sys.modules:  # keep Keras's cache out of the reader's home without the suite's conftest too
    os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="alexnet-book-test-train-"))

import numpy as np
import pytest

from alexnet_book.data import load_cifar10
from alexnet_book.train import (
    RunFiles,
    RunFolderError,
    StepDownOnPlateau,
    TrainConfig,
    main,
    train,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def standin():
    return load_cifar10(profile="smoke", download=False, standin_size=(3000, 400))


def tiny(folder, **settings):
    values = dict(profile="smoke", architecture="tiny", download=False, output_dir=str(folder), epochs=2,
                  train_size=600, validation_size=150, test_size=200, learning_rate=0.01, verbose=0)
    values.update(settings)
    return TrainConfig(**values)


def test_short_run_learns_and_records_everything(tmp_path, standin):
    result = train(tiny(tmp_path / "run", epochs=4, train_size=1200), data=standin)
    assert result.test_accuracy > 0.4  # chance is 0.10
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
    reloaded = result.load_best_model()
    np.testing.assert_allclose(reloaded.predict(standin.x_test[result.test_indices], verbose=0),
                               result.probabilities, atol=1e-5)


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
    drops = [schedule.update(loss) for loss in [2.0, 1.5, 1.6, 1.4, 1.4, 1.3, 1.3, 1.3, 1.3, 1.3]]
    assert drops == [False, False, True, False, True, False, True, False, False, False]
    assert schedule.reductions == 3  # the paper divided by 10 three times; no fourth
    patient = StepDownOnPlateau(patience=2)
    assert [patient.update(loss) for loss in [1.0, 1.0, 1.0, 1.0, 1.0]] == [False, False, True, False, True]
    rebuilt = StepDownOnPlateau(patience=1, past_losses=[2.0, 1.5, 1.6, 1.4, 1.4])
    assert (rebuilt.best, rebuilt.wait, rebuilt.reductions) == (1.4, 0, 2)


def test_learning_rate_in_the_history_drops_by_ten_at_most_three_times(tmp_path, standin):
    # A rate so small, and BatchNormalization statistics frozen (momentum 1), that the validation loss cannot move:
    # every epoch after the first is a plateau.
    result = train(tiny(tmp_path / "lr", learning_rate=1e-9, batchnorm_momentum=1.0, plateau_patience=1, epochs=5,
                        train_size=160), data=standin)
    assert result.history["learning_rate"] == pytest.approx([1e-9, 1e-9, 1e-10, 1e-11, 1e-12], rel=1e-5)


def command(folder, *extra):
    return [sys.executable, "-m", "alexnet_book.train", "--architecture", "tiny", "--profile", "smoke",
            "--no-download", "--output-dir", str(folder), "--epochs", "3", "--train-size", "3000",
            "--validation-size", "200", "--test-size", "100", "--quiet", *extra]


def history_rows(path):
    return path.read_text().splitlines()[1:] if path.exists() else []


def test_killed_run_resumes_where_it_stopped(tmp_path):
    folder = tmp_path / "run"
    files = RunFiles(folder)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(command(folder), env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while not history_rows(files.history) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)  # no chance to clean up: the hardest interruption
    output = process.communicate()[0].decode(errors="replace")
    assert process.returncode == -signal.SIGKILL, output
    before = history_rows(files.history)
    assert 1 <= len(before) < 3, "the run was not interrupted after its first epoch"
    assert json.loads(files.manifest.read_text())["status"] == "running"

    finished = subprocess.run(command(folder), env=environment, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    after = history_rows(files.history)
    assert [int(row.split(",")[0]) for row in after] == [0, 1, 2]  # every epoch exactly once
    assert after[:len(before)] == before  # the epochs before the kill are kept, not trained again
    results = json.loads(files.results.read_text())
    assert results["resumed_from_epoch"] == len(before)
    assert json.loads(files.manifest.read_text())["status"] == "complete"
    assert not files.backup.exists() and files.best_checkpoint.exists()
    assert "test accuracy" in finished.stdout


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
        (dict(architecture="vgg"), "architecture must be one of"),
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
    with pytest.raises(ValueError, match="train_size=5000 but the data has only 2400"):
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
    code = main(["--profile", "smoke", "--architecture", "tiny", "--no-download", "--output-dir", str(folder), "--quiet"])
    assert code == 2
    assert "holds files of something else" in capsys.readouterr().err


def test_smoke_profile_trains_the_real_alexnet_above_chance(tmp_path):
    """What the chapter runs under CI: the real network at 227, on the stand-in, in well under a minute of training."""
    pytest.importorskip("alexnet_book.model", reason="alexnet_book.model is not there yet")
    config = TrainConfig(profile="smoke", download=False, output_dir=str(tmp_path / "smoke"), verbose=0)
    result = train(config)
    model = result.model
    assert model.input_shape == (None, 32, 32, 3) and model.get_layer("conv1").output.shape[1:] == (55, 55, 96)
    assert model.get_layer("fc8").output.shape[-1] == 10
    assert result.config.epochs == 3 and result.train_images == 320
    assert result.test_accuracy > 0.25  # chance is 0.10
