"""The command line of alexnet_book.train: `alexnet-book-train` or `python -m alexnet_book.train`.

Keras is imported only when a run starts, so that --help and a bad flag answer at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from alexnet_book import train as training  # its functions looked up when called: tests replace some
from alexnet_book.data import CIFAR10Error, how_to_get_the_data
from alexnet_book.profiles import PAPER_MOMENTUM, PAPER_WEIGHT_DECAY, PROFILES
from alexnet_book.recipe import TrainingOutOfMemory
from alexnet_book.runs import RunFolderError
from alexnet_book.train import PRECISIONS, RunInterrupted, TrainConfig


def _program() -> str:
    """The command as it was typed, for the usage line: alexnet-book-train, or python -m alexnet_book.train."""
    name = Path(sys.argv[0]).name
    return "python -m alexnet_book.train" if name in ("train.py", "-c", "") else name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_program(),
        description="Train AlexNet on CIFAR-10 with the paper's recipe (the book's training chapter, from a shell). "
        "Interrupted, run the same command again to resume.",
    )

    def flag(name, **kwargs):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, **kwargs)

    flag("profile", default="auto", choices=PROFILES + ("auto",), help="size of the run (default: auto)")
    flag("epochs", type=int, help="epochs (default: the profile's)")
    flag("batch_size", type=int, help="images per step (default: the profile's; full: 128 as the paper)")
    flag("learning_rate", type=float, help="initial learning rate (default: the profile's; full: 0.01 as the paper)")
    flag("momentum", type=float, default=PAPER_MOMENTUM, help=f"SGD momentum (default: {PAPER_MOMENTUM})")
    flag(
        "weight_decay",
        type=float,
        default=PAPER_WEIGHT_DECAY,
        help=f"coupled weight decay, an L2 penalty wd/2*|w|^2 (default: {PAPER_WEIGHT_DECAY})",
    )
    flag("seed", type=int, default=TrainConfig.seed, help=f"random seed (default: {TrainConfig.seed})")
    flag("data_dir", help="folder with CIFAR-10's python batches (default: $ALEXNET_BOOK_CIFAR10_DIR, else download)")
    flag("output_dir", help="folder of the run (default: runs/training-<profile>-<digest of the settings>)")
    flag("train_size", type=int, help="training images (default: the profile's)")
    flag("validation_size", type=int, help="validation images (default: the profile's)")
    flag("test_size", type=int, help="test images (default: the profile's)")
    flag("augment", action=argparse.BooleanOptionalAction, default=None, help="random shifts and flips")
    flag("plateau_patience", type=int, help="epochs without a lower validation error before the rate drops")
    flag(
        "batchnorm_momentum",
        type=float,
        help="momentum of BatchNormalization's moving averages (default: the profile's)",
    )
    flag("precision", default="auto", choices=PRECISIONS, help="dtype policy (default: auto, by hardware)")
    flag("jit_compile", default="auto", choices=("auto", "on", "off"), help="XLA (default: auto, on with a GPU)")
    flag("deterministic", default="auto", choices=("auto", "on", "off"), help="reproducible ops (default: on a CPU)")
    flag("no_download", action="store_true", help="never download; smoke/quick fall back to the stand-in")
    flag("overwrite", action="store_true", help="replace another run in the output folder")
    flag("quiet", action="store_true", help="no progress bar")
    return parser


def config_from_args(argv=None) -> TrainConfig:
    parser = _parser()
    args = vars(parser.parse_args(argv))
    switch = {"auto": "auto", "on": True, "off": False}
    args["jit_compile"] = switch[args["jit_compile"]]
    args["deterministic"] = switch[args["deterministic"]]
    args["download"] = not args.pop("no_download")
    args["verbose"] = 0 if args.pop("quiet") else 1
    try:
        return TrainConfig(**args)
    except ValueError as error:
        parser.error(_in_flags(str(error)))


def _in_flags(message: str) -> str:
    """A TrainConfig message in the words of the command line: the setting's flag (a setting left out is None)."""
    name, _, rest = message.partition(" ")
    if name in {setting.name for setting in dataclasses.fields(TrainConfig)}:
        message = f"--{name.replace('_', '-')} {rest}"
    return message.replace(" or None", "")


def standin_notice(data) -> str:
    """What the command line says before it trains on the generated stand-in: that, why, and how to get CIFAR-10."""
    why = " ".join(data.notes) or "no CIFAR-10 data was found."
    return (
        f"warning: these results will not be CIFAR-10 results. CIFAR-10 could not be loaded: {why} This run trains "
        f"on {data.description}. {how_to_get_the_data()}"
    )


def main(argv=None) -> int:
    config = config_from_args(argv)
    try:
        config = config.resolved()
        data = training.load_data(config)
        if data.is_standin:
            print(standin_notice(data), file=sys.stderr, flush=True)
        result = training.train(config, data=data)
    except RunInterrupted as interrupt:
        print(interrupt, file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("Interrupted before training began: nothing was written.", file=sys.stderr)
        return 130
    except (ValueError, CIFAR10Error, RunFolderError, TrainingOutOfMemory) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"profile {result.config.profile} | {result.data_source} data | {result.device} | {result.precision} | "
        f"{result.epochs_run} epochs | test accuracy {result.test_accuracy:.1%} ({len(result.y_true)} images) | "
        f"{result.images_per_second:,.0f} training images/s | run folder {result.output_dir}"
    )
    return 0
