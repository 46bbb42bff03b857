"""CIFAR-10 as its authors publish it: the archive, the folder it extracts to, the batch files in it and the shape
of their images; the errors when a copy is missing or malformed, and the instructions every such message ends with.

The other modules of alexnet_book.data import from this one and it imports none of them.
"""

from __future__ import annotations

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SHAPE = (32, 32, 3)
ROW_LENGTH = 32 * 32 * 3  # one image as stored in a batch: 1024 red, then 1024 green, then 1024 blue values
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
FOLDER_NAME = "cifar-10-batches-py"
ENV_VARIABLE = "ALEXNET_BOOK_CIFAR10_DIR"

# What keras.datasets.cifar10.load_data() downloads: the same file, so both share one cached copy.
DOWNLOAD_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
DOWNLOAD_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
DOWNLOAD_BYTES = 170_498_071  # 170 MB, 163 MiB


class CIFAR10Error(Exception):
    """Base class of alexnet_book.data's errors; each message names the problem and the fix."""


class CIFAR10Unavailable(CIFAR10Error, RuntimeError):
    """Neither a folder nor the download gave CIFAR-10 (and no stand-in was allowed)."""


class CIFAR10FormatError(CIFAR10Error, ValueError):
    """A file or folder that is not in the CIFAR-10 python format."""


def how_to_get_the_data() -> str:
    """The instructions every 'no data' message ends with."""
    return (
        f"To get CIFAR-10: download {DOWNLOAD_URL} ({DOWNLOAD_BYTES / 1e6:.0f} MB) on a machine with a network, "
        f"extract it (`tar xzf cifar-10-python.tar.gz` gives the folder `{FOLDER_NAME}`), and pass that folder (or "
        f"its parent) as data_dir / DATA_DIR / --data-dir, or set the environment variable {ENV_VARIABLE} to it. "
        "With a network, keras.datasets.cifar10.load_data() downloads it into the Keras cache instead."
    )
