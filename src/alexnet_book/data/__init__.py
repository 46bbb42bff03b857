"""CIFAR-10 for the book: load it from a folder or a download, or (smoke/quick only) generate a stand-in.

Where the data comes from, in this order:
1. a folder of the python-format batches (`data_batch_1` ... `data_batch_5`, `test_batch`), given as `data_dir`
   or in the environment variable ALEXNET_BOOK_CIFAR10_DIR; no network needed;
2. the official archive, downloaded once into the Keras cache by `keras.utils.get_file` (the same file name,
   address and SHA-256 as `keras.datasets.cifar10.load_data()`, so a cache that function filled is reused);
3. under the `smoke` and `quick` profiles only, a generated stand-in of the same shape (32x32x3 uint8, 10 classes)
   that a network can learn. A chapter that gets it must say so: its figures are not CIFAR-10 results.
   The `full` profile never falls back; it stops with a message that says how to get the data.

Images stay uint8 at 32x32 on the host (3 KB each); the model resizes and rescales them on the accelerator.

This module holds the one entry point, load_cifar10, and what it returns; each source is a module of its own:
`official` (the published archive and format, the errors), `batches` (reading and writing the batch files),
`download` (the Keras cache), `standin` (the generated stand-in), and `split` (training and validation images).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alexnet_book.bilingual import say
from alexnet_book.data.batches import find_batch_folder, read_batch, read_batch_folder, write_python_batches
from alexnet_book.data.download import (
    KERAS_CACHE_NAME,
    download_cifar10,
    download_reachable,
    file_sha256,
    keras_cache_dir,
)
from alexnet_book.data.official import (
    CLASS_NAMES,
    DOWNLOAD_BYTES,
    DOWNLOAD_SHA256,
    DOWNLOAD_URL,
    ENV_VARIABLE,
    FOLDER_NAME,
    IMAGE_SHAPE,
    ROW_LENGTH,
    TEST_BATCH,
    TRAIN_BATCHES,
    CIFAR10Error,
    CIFAR10FormatError,
    CIFAR10Unavailable,
    how_to_get_the_data,
)
from alexnet_book.data.split import VALIDATION_FRACTION, train_validation_split, training_subsets
from alexnet_book.data.standin import STANDIN_CLASS_NAMES, STANDIN_ORIENTATIONS, make_standin
from alexnet_book.profiles import get_profile

__all__ = [
    "CIFAR10",
    "CLASS_NAMES",
    "DOWNLOAD_BYTES",
    "DOWNLOAD_SHA256",
    "DOWNLOAD_URL",
    "ENV_VARIABLE",
    "FOLDER_NAME",
    "IMAGE_SHAPE",
    "KERAS_CACHE_NAME",
    "ROW_LENGTH",
    "SOURCES",
    "STANDIN_CLASS_NAMES",
    "STANDIN_ORIENTATIONS",
    "TEST_BATCH",
    "TRAIN_BATCHES",
    "VALIDATION_FRACTION",
    "CIFAR10Error",
    "CIFAR10FormatError",
    "CIFAR10Unavailable",
    "describe_source",
    "download_cifar10",
    "download_reachable",
    "find_batch_folder",
    "fingerprint",
    "how_to_get_the_data",
    "keras_cache_dir",
    "load_cifar10",
    "locate_cifar10",
    "make_standin",
    "read_batch",
    "read_batch_folder",
    "standin_warning",
    "train_validation_split",
    "training_subsets",
    "write_python_batches",
]

SOURCES = ("directory", "keras", "standin")


@dataclass(frozen=True)
class CIFAR10:
    """The data set as arrays: images uint8 (N, 32, 32, 3), labels int64 (N,) in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...] = CLASS_NAMES
    source: str = "directory"  # one of SOURCES
    description: str = ""
    notes: tuple[str, ...] = field(default=())  # why an earlier source was skipped, for the reader

    @property
    def is_standin(self) -> bool:
        return self.source == "standin"

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}.")
        for name in ("x_train", "x_test"):
            images = getattr(self, name)
            if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
                raise ValueError(f"{name} must be uint8 of shape (N, 32, 32, 3), got {images.dtype} {images.shape}.")
        for images, labels, split in ((self.x_train, self.y_train, "train"), (self.x_test, self.y_test, "test")):
            if labels.ndim != 1 or len(labels) != len(images):
                raise ValueError(f"y_{split} must be a flat vector with one label per image, got {labels.shape}.")


def load_cifar10(
    data_dir: str | os.PathLike | None = None,
    *,
    profile: str = "quick",
    allow_standin: bool = True,
    download: bool = True,
    cache_dir: str | os.PathLike | None = None,
    standin_size: tuple[int, int] = (10_000, 2_000),
    probe_timeout: float = 5.0,
) -> CIFAR10:
    """CIFAR-10 from data_dir (or $ALEXNET_BOOK_CIFAR10_DIR), else the download, else (smoke/quick) a stand-in.

    data_dir: a folder with data_batch_1..5 and test_batch, or its parent. A folder that is given but does not
        hold the data is an error, never silently skipped.
    profile: smoke, quick, full or auto (alexnet_book.profiles); only smoke and quick may use the stand-in.
    allow_standin: False makes smoke and quick stop with the how-to-get-the-data message too.
    download: False skips the download (no network is touched).
    cache_dir: where the download is kept; default the Keras cache (KERAS_HOME or ~/.keras).
    standin_size: (training images, test images) of the stand-in.
    """
    profile = get_profile(profile)
    may_fall_back = allow_standin and profile.standin_allowed
    named = _named_batch_folder(data_dir)
    if named is not None:
        return _dataset("directory", *read_batch_folder(named))
    notes = []
    if download:
        try:
            return _dataset("keras", *read_batch_folder(download_cifar10(cache_dir, probe_timeout=probe_timeout)))
        except CIFAR10Error as error:
            if not may_fall_back:
                raise
            notes.append(str(error))
    else:
        notes.append("The download was switched off (download=False; --no-download on the command line).")
    if not may_fall_back:
        why = (
            f"the {profile.name} profile never uses the generated stand-in"
            if not profile.standin_allowed
            else "allow_standin=False"
        )
        raise CIFAR10Unavailable(
            f"No CIFAR-10 data: no folder was given and the download was switched off ({why}). {how_to_get_the_data()}"
        )
    train_count, test_count = standin_size
    return _dataset("standin", *make_standin(train_count, seed=1), *make_standin(test_count, seed=2), notes=notes)


def _dataset(source, x_train, y_train, x_test, y_test, folder=None, notes=()) -> CIFAR10:
    """load_cifar10's result: the arrays with their class names and the description of where they came from."""
    counts = f"{len(x_train):,} training and {len(x_test):,} test images"
    description = {
        "directory": f"CIFAR-10 from the folder {folder} ({counts})",
        "keras": f"CIFAR-10 downloaded into the Keras cache ({folder}; {counts})",
        "standin": f"a GENERATED STAND-IN for CIFAR-10 ({counts} of stripes whose class sets their orientation and "
        "width, in random colours): not CIFAR-10",
    }[source]
    return CIFAR10(
        x_train,
        y_train,
        x_test,
        y_test,
        class_names=STANDIN_CLASS_NAMES if source == "standin" else CLASS_NAMES,
        source=source,
        description=description,
        notes=tuple(notes),
    )


def _named_batch_folder(data_dir: str | os.PathLike | None) -> Path | None:
    """The batch folder that data_dir, else $ALEXNET_BOOK_CIFAR10_DIR, names (None: neither names one). An error
    about a folder that came from the variable says so: a reader may not remember having set it."""
    from_environment = data_dir is None and bool(os.environ.get(ENV_VARIABLE, "").strip())
    if from_environment:
        data_dir = os.environ[ENV_VARIABLE].strip()
    if data_dir is None:
        return None
    try:
        return find_batch_folder(data_dir)
    except CIFAR10Error as error:
        if not from_environment:
            raise
        raise type(error)(
            f"The environment variable {ENV_VARIABLE} is set to {str(data_dir)!r}, which holds no CIFAR-10 (set it to "
            f"the folder of the batches, or unset it to download them): {error}"
        ) from None


def standin_warning(data: CIFAR10) -> tuple[str, str]:
    """Title and text of the warning a chapter shows when it runs on the stand-in."""
    return (
        "These results are not CIFAR-10 results",
        "CIFAR-10 was not available here, so this page ran on a generated stand-in of the same shape "
        "(32x32x3 uint8, 10 classes of stripes). Every figure and number below describes that stand-in. "
        + how_to_get_the_data(),
    )


def describe_source(source: str):
    """Where a CIFAR10's images came from, in words for a page ("directory", "keras" or "standin"), as a
    bilingual.Phrase."""
    words = {
        "directory": "CIFAR-10 read from a folder",
        "keras": "CIFAR-10 from the Keras download",
        "standin": "the generated stand-in (not CIFAR-10)",
    }
    return say(words[source])


def locate_cifar10(data_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None):
    """Where load_cifar10 would read CIFAR-10 from now, without reading it: ("directory", folder) for data_dir
    or $ALEXNET_BOOK_CIFAR10_DIR, ("keras", folder) for a download already extracted in the Keras cache, or
    (None, None) when it would have to download (or fall back to the stand-in). A folder that is named but holds
    no batches raises the error load_cifar10 would raise."""
    named = _named_batch_folder(data_dir)
    if named is not None:
        return "directory", named
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else keras_cache_dir()
    extracted = cache_dir / "datasets" / KERAS_CACHE_NAME
    try:
        return "keras", find_batch_folder(extracted)
    except CIFAR10Error:
        return None, None


def fingerprint(folder: str | os.PathLike) -> str:
    """A SHA-256 over the names, sizes and contents of a folder's six batch files: the identity of the images
    a page read (about half a second for all of CIFAR-10's 180 MB)."""
    digest = hashlib.sha256()
    for name in TRAIN_BATCHES + (TEST_BATCH,):
        path = Path(folder) / name
        digest.update(f"{name} {path.stat().st_size} {file_sha256(path)}\n".encode())
    return digest.hexdigest()
