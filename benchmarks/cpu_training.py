"""How fast the book trains on a CPU, and what a profile's settings buy: the measurements behind the CPU rule of
alexnet_book.hardware.precision_policy and the sizes of the `smoke` and `quick` profiles.

Two measurements, each printed as a table and as JSON lines (`JSON {...}`), on the active Keras backend:

  speed     the backend's own matrix product at its best size (float32 and bfloat16, best of several rounds),
            and training images per second of the book's AlexNet at each batch size in float32 and in
            mixed_bfloat16, the two precisions interleaved round by round so that other work on the machine
            slows both alike; each rate also as a share of its precision's matrix-product peak.
  accuracy  alexnet_book.train.train at a profile with candidate settings over several seeds: test accuracy
            against the wall time of the whole run (mean, min and max over the seeds), on the data
            load_cifar10 finds (ALEXNET_BOOK_CIFAR10_DIR for real images).

    python benchmarks/cpu_training.py speed --batches 32,64,128
    ALEXNET_BOOK_CIFAR10_DIR=... python benchmarks/cpu_training.py accuracy --profile quick --seeds 0,1,2 \\
        --candidate '{"precision": "float32", "batch_size": 32}' --candidate '{}'

A candidate is a JSON object of alexnet_book.train.TrainConfig settings; {} is the profile as it stands.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PRECISIONS = ("float32", "mixed_bfloat16")


def report(kind: str, **values) -> None:
    print("JSON " + json.dumps({"kind": kind, **values}), flush=True)


def speed(batches: list[int], steps: int, rounds: int) -> None:
    import keras

    from alexnet_book.hardware import describe_environment, peak_matmul_flop_per_second, training_images_per_second
    from alexnet_book.model import build_alexnet
    from alexnet_book.summary import cost_table

    print(describe_environment())
    peaks = {}
    for dtype in ("float32", "bfloat16"):
        rate, size = peak_matmul_flop_per_second(dtype)
        peaks[dtype] = rate
        print(f"matrix product, {dtype}: {rate / 1e9:,.0f} GFLOP/s (best size {size})")
        report("matmul", dtype=dtype, flop_per_second=rate, size=size)
    models = {}
    for precision in PRECISIONS:
        with _policy(precision):
            model = build_alexnet("cifar10", raw_image_size=32)
        model.compile(optimizer=keras.optimizers.SGD(0.001, momentum=0.9), loss="sparse_categorical_crossentropy")
        models[precision] = model
    work = cost_table(models["float32"], batch_size=128).training_flop_per_image
    rates = {(p, b): 0.0 for p in PRECISIONS for b in batches}
    for _ in range(rounds):  # interleaved: a busy spell slows both precisions, not one
        for batch in batches:
            for precision in PRECISIONS:
                rate = training_images_per_second(models[precision], batch, steps=steps)
                rates[precision, batch] = max(rates[precision, batch], rate)
    print(f"\ntraining images/s (best of {rounds} rounds of {steps} steps), share of the matrix-product peak:")
    print(f"{'batch':>6} {'float32':>10} {'share':>6} {'bf16':>10} {'share':>6} {'bf16/fp32':>10}")
    for batch in batches:
        fp32, bf16 = rates["float32", batch], rates["mixed_bfloat16", batch]
        fp32_share, bf16_share = fp32 * work / peaks["float32"], bf16 * work / peaks["bfloat16"]
        print(f"{batch:>6} {fp32:>10.1f} {fp32_share:>6.0%} {bf16:>10.1f} {bf16_share:>6.0%} {bf16 / fp32:>10.2f}")
        report("training", batch=batch, float32=fp32, mixed_bfloat16=bf16, ratio=bf16 / fp32, flop_per_image=work)


class _policy:
    """Build a model under a dtype policy, and leave the global policy as it was."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        import keras

        self.previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.name)

    def __exit__(self, *exc):
        import keras

        keras.config.set_dtype_policy(self.previous)


def accuracy(profile: str, seeds: list[int], candidates: list[dict]) -> None:
    from alexnet_book.data import load_cifar10
    from alexnet_book.train import TrainConfig, train

    data = load_cifar10(profile=profile)
    print(f"data: {data.description}")
    folder = tempfile.mkdtemp(prefix="cpu-training-runs-")
    summary = []
    for number, settings in enumerate(candidates):
        accuracies, seconds = [], []
        for seed in seeds:
            config = TrainConfig(
                profile=profile, seed=seed, verbose=0, output_dir=f"{folder}/c{number}-s{seed}", **settings
            )
            started = time.perf_counter()
            result = train(config, data=data)
            wall = time.perf_counter() - started
            accuracies.append(result.test_accuracy)
            seconds.append(wall)
            report(
                "run",
                profile=profile,
                settings=settings,
                seed=seed,
                test_accuracy=result.test_accuracy,
                test_images=len(result.y_true),
                validation_accuracy=result.history["val_accuracy"],
                training_images_per_second=result.images_per_second,
                precision=result.precision,
                batch_size=result.config.batch_size,
                wall_seconds=wall,
                data_source=result.data_source,
            )
        summary.append((settings, accuracies, seconds))
    print(f"\n{profile} on {data.source} data, seeds {seeds}: test accuracy (mean, min..max) and wall seconds")
    for settings, accuracies, seconds in summary:
        print(
            f"{json.dumps(settings):60s} {statistics.mean(accuracies):6.1%} "
            f"({min(accuracies):.1%}..{max(accuracies):.1%})  {statistics.mean(seconds):7.0f} s"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    timing = commands.add_parser("speed", help="matrix-product peaks and training rates, float32 against bf16")
    timing.add_argument("--batches", default="32,64,128", help="comma-separated batch sizes (default: 32,64,128)")
    timing.add_argument("--steps", type=int, default=3, help="timed steps per round (default: 3)")
    timing.add_argument("--rounds", type=int, default=3, help="rounds; the best is kept (default: 3)")
    runs = commands.add_parser("accuracy", help="test accuracy against wall time for candidate settings")
    runs.add_argument("--profile", default="quick", choices=("smoke", "quick"))
    runs.add_argument("--seeds", default="0,1,2", help="comma-separated random seeds (default: 0,1,2)")
    runs.add_argument("--candidate", action="append", default=[], help="JSON object of TrainConfig settings")
    args = parser.parse_args(argv)
    try:
        if args.command == "speed":
            speed([int(b) for b in args.batches.split(",")], args.steps, args.rounds)
        else:
            candidates = [json.loads(c) for c in args.candidate] or [{}]
            if not all(isinstance(c, dict) for c in candidates):
                parser.error("each --candidate must be a JSON object, e.g. '{\"batch_size\": 64}'")
            accuracy(args.profile, [int(s) for s in args.seeds.split(",")], candidates)
    except ValueError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
