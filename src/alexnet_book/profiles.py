"""Profiles: one notebook, three sizes of run, and every size of every profile in one place.

smoke: what CI runs under papermill (a minute or two a chapter on a 2-core CPU; the training chapter still learns);
quick: what a CPU-only build of the site runs (minutes a chapter);
full:  the real CIFAR-10 run on a GPU;
auto:  full where a GPU is present, else quick. ALEXNET_BOOK_PROFILE, if set, decides what auto means,
       so `ALEXNET_BOOK_PROFILE=smoke make book` builds the whole site quickly.

A chapter gets its Profile from alexnet_book.notebook.start_page and reads its sizes from it (profile.training,
profile.inspection_images, ...); nothing else holds a size that depends on the profile.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from alexnet_book.checks import check_positive_int

PROFILES = ("smoke", "quick", "full")
ENV_VARIABLE = "ALEXNET_BOOK_PROFILE"

# The paper's recipe (section 5), which the full profile trains with.
PAPER_LEARNING_RATE = 0.01
PAPER_MOMENTUM = 0.9
PAPER_WEIGHT_DECAY = 0.0005
PAPER_BATCH_SIZE = 128


@dataclass(frozen=True)
class TrainingSizes:
    """The training chapter's run at a profile (alexnet_book.train.TrainConfig's defaults). None: all images."""

    epochs: int
    batch_size: int
    learning_rate: float
    train_size: int | None
    validation_size: int | None
    test_size: int | None
    augment: bool
    plateau_patience: int
    batchnorm_momentum: float


@dataclass(frozen=True)
class ExperimentSizes:
    """How big each run of an experiment is: images, epochs and the batch (steps follow from them)."""

    train_images: int
    validation_images: int
    epochs: int
    batch_size: int

    def __post_init__(self):
        for name in ("train_images", "validation_images", "epochs", "batch_size"):
            check_positive_int(name, getattr(self, name))

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.train_images / self.batch_size)


@dataclass(frozen=True)
class Profile:
    """Every size a chapter or module uses at one profile.

    training: chapter 6's run (and chapter 7's model, the same run);
    small_experiments: chapter 4's races of small 32x32 networks;
    alexnet_experiments: chapter 8's ablations of the real AlexNet;
    standin_allowed: whether a missing CIFAR-10 may be replaced by the generated stand-in;
    shape_check_sizes: chapter 1's input sizes for checking the formula against Keras layers;
    race_target_error, race_learning_rates: chapter 4's race (None: the training run's rate);
    timed_images: images the input pipelines are timed over (chapters 5 and 9);
    gallery_images: chapter 7's gallery, the training images its nearest neighbours are searched among;
    timed_steps, throughput_batches, matmul_sizes, matmul_rounds: chapter 9's timings;
    split_batch, split_timed_steps, split_fit_batches: chapter 10's programs on two devices.
    """

    name: str
    training: TrainingSizes
    small_experiments: ExperimentSizes
    alexnet_experiments: ExperimentSizes
    standin_allowed: bool
    shape_check_sizes: tuple[int, ...]
    race_target_error: float
    race_learning_rates: tuple[float, ...] | None
    timed_images: int
    gallery_images: int
    timed_steps: int
    throughput_batches: tuple[int, ...]
    matmul_sizes: tuple[int, ...]
    matmul_rounds: int
    split_batch: int
    split_timed_steps: int
    split_fit_batches: int


# Why these sizes:
# - training, short profiles: a few dozen to a few hundred steps. At the paper's rate 0.01 the post's
#   BatchNormalization network first blows up (its loss jumps above 10) and needs epochs to recover, so they start
#   at 0.0003, and their BatchNormalization averages (used at inference) follow faster than Keras's 0.99, which
#   needs some hundreds of steps to forget its starting values. smoke's 640 images and 4 epochs beat twice chance
#   on real CIFAR-10 with a margin that 320 images and 3 epochs did not give; quick's 2,400 images and 6 epochs
#   reached a higher test accuracy on real images than the 1,600 and 5 it had before, in less time where the CPU
#   trains in bfloat16 (benchmarks/cpu_training.py measures both: test accuracy against wall time, over seeds).
# - training, full: patience 3 because with 10,000 validation images an epoch or two without a new low of the
#   error happen by chance while the network still improves, three in a row rarely; 60 epochs leave room for the
#   three drops and for epochs at the last rate. A choice, not yet measured on CIFAR-10.
# - small experiments: about a thousand images a second on a 2-core CPU, so even smoke runs a few epochs.
# - AlexNet experiments: each run is a real AlexNet at 227; smoke takes two epochs of two small batches (the second
#   epoch times the speed, the first compiles). A CPU cannot train seven AlexNets far enough to tell them apart
#   (320 images a run left even the baseline at chance on real images), so quick only checks more of the machinery
#   than smoke; full is a GPU's work.
SMOKE = Profile(
    name="smoke",
    training=TrainingSizes(
        epochs=4,
        batch_size=32,
        learning_rate=0.0003,
        train_size=640,
        validation_size=160,
        test_size=200,
        augment=False,
        plateau_patience=1,
        batchnorm_momentum=0.9,
    ),
    small_experiments=ExperimentSizes(train_images=600, validation_images=300, epochs=3, batch_size=50),
    alexnet_experiments=ExperimentSizes(train_images=16, validation_images=16, epochs=2, batch_size=8),
    standin_allowed=True,
    shape_check_sizes=(5, 13, 27),
    race_target_error=0.75,
    race_learning_rates=None,
    timed_images=512,
    gallery_images=300,
    timed_steps=2,
    throughput_batches=(8, 32),
    matmul_sizes=(1024, 2048),
    matmul_rounds=1,
    split_batch=2,
    split_timed_steps=1,
    split_fit_batches=1,
)
QUICK = Profile(
    name="quick",
    training=TrainingSizes(
        epochs=6,
        batch_size=32,
        learning_rate=0.0003,
        train_size=2400,
        validation_size=320,
        test_size=640,
        augment=False,
        plateau_patience=2,
        batchnorm_momentum=0.9,
    ),
    small_experiments=ExperimentSizes(train_images=2000, validation_images=500, epochs=8, batch_size=50),
    alexnet_experiments=ExperimentSizes(train_images=160, validation_images=96, epochs=2, batch_size=32),
    standin_allowed=True,
    shape_check_sizes=(5, 8, 13, 27, 55),
    race_target_error=0.25,
    race_learning_rates=(1e-3, 1e-4),
    timed_images=2048,
    gallery_images=2000,
    timed_steps=3,
    throughput_batches=(8, 32, 128),
    matmul_sizes=(1024, 2048, 4096),
    matmul_rounds=5,
    split_batch=8,
    split_timed_steps=2,
    split_fit_batches=2,
)
FULL = Profile(
    name="full",
    training=TrainingSizes(
        epochs=60,
        batch_size=PAPER_BATCH_SIZE,
        learning_rate=PAPER_LEARNING_RATE,
        train_size=None,
        validation_size=None,
        test_size=None,
        augment=True,
        plateau_patience=3,
        batchnorm_momentum=0.99,
    ),
    small_experiments=ExperimentSizes(train_images=40_000, validation_images=10_000, epochs=30, batch_size=128),
    alexnet_experiments=ExperimentSizes(train_images=40_000, validation_images=10_000, epochs=30, batch_size=128),
    standin_allowed=False,
    shape_check_sizes=(5, 8, 13, 27, 55, 227),
    race_target_error=0.25,
    race_learning_rates=(1e-2, 1e-3, 1e-4),
    timed_images=8192,
    gallery_images=10_000,
    timed_steps=20,
    throughput_batches=(32, 128, 512),
    matmul_sizes=(2048, 4096, 8192),
    matmul_rounds=5,
    split_batch=64,
    split_timed_steps=10,
    split_fit_batches=2,
)
BY_NAME = {profile.name: profile for profile in (SMOKE, QUICK, FULL)}


def resolve_profile(profile: str = "auto") -> str:
    """Turn a notebook's PROFILE parameter into one of PROFILES, with a clear error for anything else."""
    if isinstance(profile, Profile):
        return profile.name
    if not isinstance(profile, str) or profile.lower() not in PROFILES + ("auto",):
        raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES + ('auto',))}.")
    profile = profile.lower()
    if profile != "auto":
        return profile
    chosen = os.environ.get(ENV_VARIABLE, "").strip().lower()
    if chosen:
        if chosen not in PROFILES:
            raise ValueError(f"{ENV_VARIABLE}={chosen!r} is not a profile: set it to one of {', '.join(PROFILES)}.")
        return chosen
    from alexnet_book.hardware import (
        gpu_available,  # imports the backend: only where auto needs it
    )

    return "full" if gpu_available() else "quick"


def get_profile(profile: str | Profile = "auto") -> Profile:
    """The Profile a notebook's PROFILE parameter ("smoke", "quick", "full" or "auto") stands for."""
    return BY_NAME[resolve_profile(profile)]
