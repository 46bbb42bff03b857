"""The Keras callbacks a training run goes through each epoch: the paper's schedule (StepDownOnPlateau), the clock
(EpochTimer, and throughput from its columns) and the per-epoch commit of the run folder (EpochCommit)."""

from __future__ import annotations

import math
import time

import keras

from alexnet_book.runs import (
    RunFiles,
    commit_backup,
    remove_unreferenced_weights,
    weights_file,
    write_history,
)

LR_DIVISOR = 10.0  # the paper divides by 10 ...
MAX_LR_REDUCTIONS = 3  # ... three times in all


class StepDownOnPlateau(keras.callbacks.Callback):
    """The paper's schedule: divide the learning rate by 10 "when the validation error rate stopped improving",
    here when it has not reached a new low for `patience` epochs, at most 3 times (so it ends at
    learning_rate / 1000). Logs each epoch's rate.

    It watches the validation error (1 - val_accuracy), not val_loss: in Keras 3 val_loss includes the weight
    penalty, which the decay shrinks every epoch, so val_loss keeps "improving" while the error stands still.
    Its state is a function of the validation errors so far, so a resumed run rebuilds it from the history
    (past_errors); Keras's ReduceLROnPlateau would start counting afresh after an interruption.
    """

    def __init__(
        self, patience: int, divisor: float = LR_DIVISOR, max_reductions: int = MAX_LR_REDUCTIONS, past_errors=()
    ):
        super().__init__()
        self.patience, self.divisor, self.max_reductions = patience, divisor, max_reductions
        self.best, self.wait, self.reductions = math.inf, 0, 0
        for error in past_errors:
            self.update(error)

    def update(self, error: float) -> bool:
        """Take one epoch's validation error; True when the rate must drop now."""
        if error < self.best:
            self.best, self.wait = error, 0
            return False
        self.wait += 1
        if self.wait >= self.patience and self.reductions < self.max_reductions:
            self.wait, self.reductions = 0, self.reductions + 1
            return True
        return False

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        # the rate this epoch ran with, logged before any change
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        if "val_accuracy" in logs and self.update(1.0 - float(logs["val_accuracy"])):
            optimizer.learning_rate = logs["learning_rate"] / self.divisor


class EpochTimer(keras.callbacks.Callback):
    """Adds epoch_seconds (training and validation), train_seconds (the training steps only) and warmup (1 on
    the first epoch of a session, which includes tracing and compiling) to each epoch's log.

    It waits for the last training step once per epoch, when validation begins, and never per step: a callback
    with a per-batch hook makes Keras wait for every step, which a fast GPU notices.
    """

    def __init__(self):
        super().__init__()
        self.first = True

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.train_end = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        if self.train_end is None:  # validation inside fit (an evaluate() outside fit has no epoch)
            keras.ops.convert_to_numpy(self.model.optimizer.iterations)  # the last step has finished
            self.train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        now = time.perf_counter()
        logs["epoch_seconds"] = now - self.start
        logs["train_seconds"] = (self.train_end or now) - self.start
        logs["warmup"] = int(self.first)
        self.first = False


class OneEpoch(keras.callbacks.Callback):
    """Ends fit after the epoch it began with: fit(epochs=total, initial_epoch=epoch) then trains that one epoch,
    and its progress line counts it against the whole run ("Epoch 3/5")."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def throughput(history: dict, train_images: int) -> float:
    """Training images per second over the epochs after a session's first (tracing and compiling happen there),
    from EpochTimer's columns; over all epochs, compile included, when there is no other."""
    steady = [i for i, warmup in enumerate(history.get("warmup", [])) if not warmup]
    timed = steady or list(range(len(history.get("train_seconds", []))))
    seconds = sum(history["train_seconds"][i] for i in timed)
    return train_images * len(timed) / seconds if timed and seconds > 0 else math.nan


class EpochCommit(keras.callbacks.Callback):
    """Makes every finished epoch durable, in one step that a kill cannot split (alexnet_book.runs describes the
    commit): the weights, with the optimizer's momentum, step count and learning rate, go to a new file in
    backup/, then commit() renames the new state into place; history.csv follows as a view. The best weights are
    those of the lowest validation error so far (the first such epoch).
    """

    def __init__(self, files: RunFiles, identity: dict, state: dict | None = None):
        super().__init__()
        self.files, self.identity = files, identity
        state = state or {}
        self.rows = list(state.get("history", []))
        self.best_weights = state.get("best_weights")
        self.best_error = min((1.0 - row["val_accuracy"] for row in self.rows), default=math.inf)

    def on_epoch_end(self, epoch, logs=None):
        started = time.perf_counter()
        self.files.backup.mkdir(parents=True, exist_ok=True)
        latest = weights_file(epoch + 1)
        self.model.save_weights(str(self.files.backup / latest), overwrite=True)
        row = {"epoch": epoch, **{key: float(value) for key, value in (logs or {}).items()}}
        error = 1.0 - row.get("val_accuracy", 0.0)
        if error < self.best_error:
            self.best_error, self.best_weights = error, latest
        row["checkpoint_seconds"] = time.perf_counter() - started
        self.rows.append(row)
        self.commit(
            {
                "identity": self.identity,
                "epochs_done": epoch + 1,
                "latest_weights": latest,
                "best_weights": self.best_weights,
                "history": self.rows,
            }
        )
        write_history(self.files.history, self.rows)
        remove_unreferenced_weights(self.files, {latest, self.best_weights})

    def commit(self, state: dict) -> None:
        commit_backup(self.files, state)
