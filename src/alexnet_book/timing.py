"""The book's one way to time work on a device, whatever the Keras backend.

Call the work once untimed (it traces and compiles there), then call it `repeats` times back to back and stop the
clock once the last result is ready: the calls are queued without waiting in between, so no copy to the host and no
per-call synchronization is timed. On a machine that other work shares, take the best of a few `rounds`: other work
only ever makes a round slower, so the fastest round is the closest to what the machine can do.
"""

from __future__ import annotations

import time


def wait_for(result) -> None:
    """Block until `result` (an array, a number, or a nest of them) has been computed on its device."""
    import keras

    leaves = keras.tree.flatten(result)
    if not leaves:
        return
    last = leaves[-1]
    if hasattr(last, "block_until_ready"):  # JAX: one call waits for the whole computation
        last.block_until_ready()
    else:  # TensorFlow and PyTorch: fetching a value waits for everything queued before it
        keras.ops.convert_to_numpy(last)


def seconds_per_call(call, repeats: int = 3, rounds: int = 1) -> float:
    """Seconds one call of `call()` takes: the best round of `repeats` calls, after one untimed call."""
    if repeats < 1 or rounds < 1:
        raise ValueError(f"repeats and rounds must be at least 1, got {repeats} and {rounds}.")
    wait_for(call())
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        result = None
        for _ in range(repeats):
            result = call()
        wait_for(result)
        best = min(best, (time.perf_counter() - started) / repeats)
    return best
