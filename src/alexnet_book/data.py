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
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import reprlib
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alexnet_book.checks import check_positive_int

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SHAPE = (32, 32, 3)
ROW_LENGTH = 32 * 32 * 3  # one image as stored in a batch: 1024 red, then 1024 green, then 1024 blue values
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
FOLDER_NAME = "cifar-10-batches-py"
ENV_VARIABLE = "ALEXNET_BOOK_CIFAR10_DIR"
# The stand-in's classes are stripes (5 directions, wide or narrow), not airplanes and cats: names of their own.
STANDIN_ORIENTATIONS = 5
# Named by the angle of the stripes from the horizontal, as a reader measures it on the page.
STANDIN_CLASS_NAMES = tuple(
    f"{width} {90 - 22.5 * k:g}°" for width in ("wide", "narrow") for k in range(STANDIN_ORIENTATIONS)
)

# What keras.datasets.cifar10.load_data() downloads; the same names, so both share one cached copy.
DOWNLOAD_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
DOWNLOAD_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
DOWNLOAD_BYTES = 170_498_071  # 170 MB, 163 MiB
KERAS_CACHE_NAME = "cifar-10-batches-py-target"

SOURCES = ("directory", "keras", "standin")


class CIFAR10Error(Exception):
    """Base class of this module's errors; each message names the problem and the fix."""


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


# --------------------------------------------------------------------------------------------------
# Reading and writing the python-format batches


# A pickle can run code, and a corrupt one can crash numpy: numpy's own __setstate__ methods trust their input
# (a dtype given a malformed state tuple segfaults the process). So the unpickler below never gives a pickle's
# numbers to numpy's constructors. Each numpy name a batch file uses is mapped to a stand-in here that checks
# what it is given and builds the array with np.dtype(<a plain type code>) and np.frombuffer of exactly the
# right number of bytes; any other name is refused. Protocols 0 to 2 write arrays as _reconstruct + BUILD and
# bytes as _codecs.encode(str, "latin1"), 3 and 4 as _reconstruct + BUILD, 5 as _frombuffer; numpy 2 says
# numpy._core, numpy 1 (and the official Python 2 files) numpy.core.


class _NotThePickledValue(pickle.UnpicklingError):
    pass


def _text(value) -> str:
    """A type code or byte order: str from Python 3, bytes from Python 2 (read with encoding='bytes')."""
    if isinstance(value, bytes):
        value = value.decode("ascii")
    if not isinstance(value, str):
        raise _NotThePickledValue(f"expected a short text, got a {type(value).__name__}")
    return value


_PLAIN_TYPE_CODES = {f"{kind}{size}" for kind in "iu" for size in (1, 2, 4, 8)} | {"b1", "f4", "f8"}


class _Dtype:
    """numpy.dtype(code, align, copy) and its BUILD, for plain numbers only (state as numpy writes it)."""

    def __init__(self, code, align=False, copy=False):
        code = _text(code)
        if code not in _PLAIN_TYPE_CODES:
            raise _NotThePickledValue(f"refusing dtype {code[:20]!r} (only plain numbers are allowed)")
        self.dtype = np.dtype(code)

    def __setstate__(self, state):
        if not (
            isinstance(state, tuple)
            and len(state) == 8
            and state[0] == 3
            and state[2:] == (None, None, None, -1, -1, 0)
        ):
            raise _NotThePickledValue("malformed dtype state")
        order = _text(state[1])
        if order not in ("<", ">", "|", "="):
            raise _NotThePickledValue(f"malformed byte order {order[:10]!r}")
        if order in "<>" and self.dtype.itemsize > 1:
            self.dtype = self.dtype.newbyteorder(order)


class _NdarrayName:
    """What `numpy.ndarray` stands for in a pickle: only a marker passed to _reconstruct, never called."""


def _array_from(buffer, dtype, shape, fortran=False) -> np.ndarray:
    if not isinstance(dtype, _Dtype):
        raise _NotThePickledValue(f"an array's dtype is a {type(dtype).__name__}")
    if not (isinstance(shape, tuple) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise _NotThePickledValue("malformed array shape")
    count = 1
    for n in shape:
        count *= n
    if len(buffer) != count * dtype.dtype.itemsize:
        raise _NotThePickledValue(f"{len(buffer)} bytes do not fill an array of shape {shape} and {dtype.dtype}")
    return np.frombuffer(buffer, dtype.dtype).reshape(shape, order="F" if fortran else "C").copy()


class _Array:
    """_reconstruct(ndarray, (0,), typecode) and its BUILD with (version, shape, dtype, is_fortran, bytes)."""

    def __init__(self, array: np.ndarray | None = None):
        self.array = array

    def __setstate__(self, state):
        if self.array is not None or not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _NotThePickledValue("malformed array state")
        if len(state) == 5:
            if state[0] != 1:
                raise _NotThePickledValue("unknown array state version")
            state = state[1:]
        shape, dtype, fortran, raw = state
        if not isinstance(raw, (bytes, bytearray)):
            raise _NotThePickledValue(f"an array's contents are a {type(raw).__name__}")
        self.array = _array_from(raw, dtype, shape, bool(fortran))


def _reconstruct(cls, shape, typecode):
    if cls is not _NdarrayName:
        raise _NotThePickledValue("_reconstruct of something other than numpy.ndarray")
    return _Array()


def _frombuffer(buffer, dtype, shape, order):
    if order not in ("C", "F"):
        raise _NotThePickledValue("malformed array order")
    if not isinstance(buffer, (bytes, bytearray)):  # in-band protocol 5 gives these; out-of-band is not ours
        raise _NotThePickledValue(f"an array's contents are a {type(buffer).__name__}")
    return _Array(_array_from(buffer, dtype, shape, order == "F"))


def _scalar(dtype, raw):
    """A numpy scalar, as the plain Python number it holds."""
    if not isinstance(raw, bytes):
        raise _NotThePickledValue(f"a scalar's contents are a {type(raw).__name__}")
    return _array_from(raw, dtype, ()).item()


def _latin1_bytes(text, encoding="latin1"):
    """What `_codecs.encode` does for a pickle of bytes at protocols 0 to 2 (bytes become a latin-1 str), and only
    that."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _NotThePickledValue(f"refusing _codecs.encode of a {type(text).__name__} as {encoding!r}")
    return text.encode("latin1")


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays of plain numbers, nothing else, with any pickle protocol.

    Arrays come back as _Array holders (see _loaded); numpy's own unpickling code never runs.
    """

    _ALLOWED = {
        ("numpy", "ndarray"): _NdarrayName,
        ("numpy", "dtype"): _Dtype,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy.core.multiarray", "scalar"): _scalar,
        ("numpy._core.multiarray", "scalar"): _scalar,
        ("numpy.core.numeric", "_frombuffer"): _frombuffer,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer,
        ("_codecs", "encode"): _latin1_bytes,
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[module, name]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")


class _ArrayWithoutContents:
    """What an array becomes whose pickle never gave its contents (a _reconstruct without BUILD)."""


def _check_memo_indices(raw: bytes) -> None:
    """Refuse a pickle that stores to a memo slot beyond the opcodes read so far; never true of a real pickle.

    The C unpickler grows its memo to the largest index it is asked to store at: one corrupt byte in a
    LONG_BINPUT asks for a billion slots, gigabytes of memory, before anything else goes wrong.
    """
    for count, (opcode, argument, _) in enumerate(pickletools.genops(raw)):
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and not 0 <= argument <= count:
            raise _NotThePickledValue(f"memo index {argument} at opcode {count}")


def _unpickle(raw: bytes):
    with warnings.catch_warnings():  # a corrupt protocol-0 string warns of an "invalid escape sequence": noise
        warnings.simplefilter("ignore", DeprecationWarning)
        _check_memo_indices(raw)
        return _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()


def _loaded(value):
    """A value of the unpickled dict, an array holder replaced by its array."""
    if isinstance(value, _Array):
        return value.array if value.array is not None else _ArrayWithoutContents()
    return value


def _key(batch: dict, name: str):
    """Batches written by Python 2 (the official files) have bytes keys; ones written by Python 3 may have str."""
    for key in (name.encode(), name):
        if key in batch:
            return batch[key]
    return None


def _describe(error: BaseException, limit: int = 200) -> str:
    """`Type: message` of an error, cut short; the message of an error from corrupt data may be huge or broken."""
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 -- a broken __str__ must not replace the error we are reporting
        text = "(no description)"
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(error).__name__}: {text}"


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 40


def _label_vector(labels, rows: int, where: str, fix: str) -> np.ndarray:
    """The labels as int64 (rows,), or CIFAR10FormatError.

    The official files hold a list of ints; an integer numpy vector is accepted too. A list is checked item by
    item before numpy sees it: np.asarray guesses (a huge int gives uint64 or object, mixed signs float64).
    """
    if isinstance(labels, np.ndarray):
        whole = labels.ndim == 1 and (np.issubdtype(labels.dtype, np.integer) or labels.size == 0)
        got = f"{labels.dtype} of shape {labels.shape}"
    elif isinstance(labels, (list, tuple)):
        whole = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels)
        got = f"a {type(labels).__name__} of {len(labels)} items" + ("" if whole else ", not all whole numbers")
    else:
        whole, got = False, f"a {type(labels).__name__}"
    if not whole or len(labels) != rows:
        raise CIFAR10FormatError(
            f"{where}: b'labels' must be {rows} whole numbers (one per row of b'data'), got {got}. {fix}"
        )
    if rows and (min(labels) < 0 or max(labels) >= len(CLASS_NAMES)):
        raise CIFAR10FormatError(f"{where}: labels must lie in 0..9, found {min(labels)}..{max(labels)}. {fix}")
    return np.asarray(labels, dtype=np.int64).reshape(-1)


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One python-format batch file as (images uint8 (N, 32, 32, 3), labels int64 (N,)); any N.

    Any malformed file, however it is broken, raises CIFAR10FormatError with the file's name and the fix.
    """
    path = Path(path)
    fix = (
        "A CIFAR-10 batch is a pickled dict with b'data' (uint8, N rows of 3072 values) and b'labels' "
        f"(N whole numbers in 0..9). Replace it with the file of the same name from a fresh extract of {DOWNLOAD_URL} "
        "(or write it with alexnet_book.data.write_python_batches)."
    )
    if not path.is_file():
        raise CIFAR10FormatError(f"CIFAR-10 batch file {path} is missing. {fix}")
    raw = path.read_bytes()  # outside the try: an unreadable file is an OSError, not a corrupt one
    try:
        batch = _unpickle(raw)
    except Exception as error:  # noqa: BLE001 -- deliberately broad, and only around unpickling; see below
        # Corrupt pickle bytes reach arbitrary corners of the unpickler: UnpicklingError, EOFError, ValueError,
        # TypeError, OverflowError, SystemError, SyntaxError, MemoryError, RecursionError, KeyError, IndexError,
        # AttributeError, UnicodeDecodeError, ImportError... all mean "this file is not a batch". The try holds
        # nothing but the unpickling (the memo scan and load()), so no bug elsewhere hides here; KeyboardInterrupt
        # and SystemExit are not Exceptions and still stop the program.
        raise CIFAR10FormatError(
            f"{path} is not a readable CIFAR-10 batch: the pickle is truncated or corrupt ({_describe(error)}). {fix}"
        ) from None
    if not isinstance(batch, dict):
        raise CIFAR10FormatError(
            f"{path} holds a {'numpy array' if isinstance(batch, _Array) else type(batch).__name__}, "
            "not the dict of a CIFAR-10 batch "
            f"(keys b'data' and b'labels'). {fix}"
        )
    data, labels = _key(batch, "data"), _key(batch, "labels")
    if data is None or labels is None:
        found = ", ".join(_REPR.repr(k) for k in list(batch)[:8]) or "none"
        raise CIFAR10FormatError(
            f"{path} is a dict without the keys b'data' and b'labels' of a CIFAR-10 batch (keys found: {found}). {fix}"
        )
    data, labels = _loaded(data), _loaded(labels)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != ROW_LENGTH:
        got = f"{data.dtype} of shape {data.shape}" if isinstance(data, np.ndarray) else f"a {type(data).__name__}"
        raise CIFAR10FormatError(
            f"{path}: b'data' must be uint8 with {ROW_LENGTH} values per row (32x32 pixels x 3 colours) "
            f"in a numpy array, got {got}. {fix}"
        )
    labels = _label_vector(labels, len(data), str(path), fix)
    # Each row is channel-major (RRR...GGG...BBB); the book, like Keras, keeps channels last.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def find_batch_folder(data_dir: str | os.PathLike) -> Path:
    """The folder that holds the batch files: data_dir itself, or its `cifar-10-batches-py` subfolder."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.exists():
        raise CIFAR10Unavailable(f"The CIFAR-10 folder {data_dir} does not exist. {how_to_get_the_data()}")
    if not data_dir.is_dir():
        hint = (
            " It looks like the archive: extract it first (tar xzf)."
            if data_dir.name.endswith((".tar.gz", ".tgz"))
            else ""
        )
        raise CIFAR10Unavailable(
            f"{data_dir} is a file, not a folder of CIFAR-10 batches.{hint} {how_to_get_the_data()}"
        )
    names = TRAIN_BATCHES + (TEST_BATCH,)
    candidates = [data_dir, data_dir / FOLDER_NAME, data_dir / FOLDER_NAME / FOLDER_NAME]
    for folder in candidates:
        if any((folder / name).exists() for name in names):
            missing = [name for name in names if not (folder / name).is_file()]
            if missing:
                raise CIFAR10FormatError(
                    f"The CIFAR-10 folder {folder} lacks {', '.join(missing)}: it needs all of {', '.join(names)}. "
                    f"Copy the missing files from a fresh extract of {DOWNLOAD_URL}."
                )
            return folder
    if (data_dir / "cifar-10-python.tar.gz").exists():
        raise CIFAR10Unavailable(
            f"{data_dir} holds cifar-10-python.tar.gz but not the extracted batches: "
            f"run `tar xzf cifar-10-python.tar.gz` in {data_dir}."
        )
    raise CIFAR10Unavailable(
        f"{data_dir} holds no CIFAR-10 batches (looked for {', '.join(names)} in it and in {FOLDER_NAME}/). "
        f"{how_to_get_the_data()}"
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


def read_batch_folder(data_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Path]:
    """All five training batches and the test batch of a folder: x_train, y_train, x_test, y_test, folder."""
    folder = find_batch_folder(data_dir)
    parts = [read_batch(folder / name) for name in TRAIN_BATCHES]
    x_train = np.concatenate([images for images, _ in parts])
    y_train = np.concatenate([labels for _, labels in parts])
    x_test, y_test = read_batch(folder / TEST_BATCH)
    return x_train, y_train, x_test, y_test, folder


def write_python_batches(
    folder: str | os.PathLike,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    train_rows: list[int] | None = None,
) -> Path:
    """Write images in CIFAR-10's python format (pickled dicts, protocol 4, which Keras's reader also accepts).

    The training images are split over data_batch_1..5, evenly unless train_rows gives the rows of each file.
    Writes into `folder` (created if needed) and refuses to replace existing batch files.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = TRAIN_BATCHES + (TEST_BATCH,)
    existing = [name for name in names if (folder / name).exists()]
    if existing:
        raise FileExistsError(f"{folder} already holds {', '.join(existing)}: write into an empty folder.")
    for name, images in (("x_train", x_train), ("x_test", x_test)):
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE:
            raise ValueError(f"{name} must be uint8 of shape (N, 32, 32, 3), got {images.dtype} {images.shape}.")
    if train_rows is None:
        train_rows = [len(part) for part in np.array_split(np.arange(len(x_train)), len(TRAIN_BATCHES))]
    if len(train_rows) != len(TRAIN_BATCHES) or sum(train_rows) != len(x_train) or min(train_rows) < 0:
        raise ValueError(
            f"train_rows must be {len(TRAIN_BATCHES)} counts adding up to {len(x_train)}, got {train_rows}."
        )
    bounds = np.cumsum([0] + list(train_rows))
    pieces = [
        (TRAIN_BATCHES[i], x_train[bounds[i] : bounds[i + 1]], y_train[bounds[i] : bounds[i + 1]]) for i in range(5)
    ]
    pieces.append((TEST_BATCH, x_test, y_test))
    for name, images, labels in pieces:
        rows = np.asarray(images).transpose(0, 3, 1, 2).reshape(len(images), ROW_LENGTH)
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(label) for label in np.asarray(labels).reshape(-1)],
            b"data": np.ascontiguousarray(rows, dtype=np.uint8),
            b"filenames": [f"{i:05d}.png".encode() for i in range(len(images))],
        }
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=4)
    return folder


# --------------------------------------------------------------------------------------------------
# The download


def keras_cache_dir() -> Path:
    """Where Keras keeps downloads, found as Keras finds it: $KERAS_HOME, else ~/.keras (/tmp/.keras when the
    home folder is not writable). Keras has no public function for this; the rule is short enough to repeat."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"]).expanduser()
    home = Path.home()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"


def _cached_archive(cache_dir: Path) -> Path:
    # keras.utils.get_file stores an archive named fname (without a dot) as fname + "_archive".
    return cache_dir / "datasets" / f"{KERAS_CACHE_NAME}_archive"


def download_reachable(url: str = DOWNLOAD_URL, timeout: float = 5.0) -> tuple[bool, str]:
    """Whether the server answers a HEAD request for `url` within `timeout` seconds, and why not.

    An HTTP answer, not just a TCP connection: some networks accept every connection at a proxy and answer
    nothing. Name lookup ignores timeouts, so the probe runs in a thread that is given up after `timeout`:
    a machine without a network gets its answer in seconds, not after minutes of retries.
    """
    import urllib.error
    import urllib.request

    outcome: dict = {}

    def probe():
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout) as response:
                outcome["ok"] = 200 <= response.status < 400
                outcome["error"] = f"HTTP status {response.status}"
        except urllib.error.HTTPError as error:
            outcome["error"] = f"HTTP status {error.code} {error.reason}"
        except Exception as error:  # URLError, timeouts, TLS errors, a proxy's garbage: all mean "no"
            outcome["error"] = f"{type(error).__name__}: {getattr(error, 'reason', error)}"

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if outcome.get("ok"):
        return True, ""
    return False, outcome.get("error", f"no answer within {timeout:g} s")


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, target: Path, sha256: str, timeout: float) -> None:
    """Download url to target (via target.part, so a broken download never looks finished) and check its SHA-256.

    The timeout is this connection's own (connecting and each read): the process-wide default stays as it is.
    """
    import http.client
    import urllib.request

    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as handle:
            print(f"Downloading {url} into {target}")
            for chunk in iter(lambda: response.read(1 << 20), b""):
                handle.write(chunk)
    except (OSError, http.client.HTTPException, ValueError) as error:  # URLError and timeouts are OSErrors
        partial.unlink(missing_ok=True)
        raise CIFAR10Unavailable(
            f"Downloading CIFAR-10 from {url} failed ({type(error).__name__}: {getattr(error, 'reason', error)}). "
            f"{how_to_get_the_data()}"
        ) from None
    if _sha256(partial) != sha256:
        partial.unlink(missing_ok=True)
        raise CIFAR10Unavailable(
            f"The download of {url} is incomplete or corrupt (its SHA-256 is not {sha256}). Try again, or "
            f"{how_to_get_the_data()}"
        )
    os.replace(partial, target)


def download_cifar10(
    cache_dir: str | os.PathLike | None = None, *, probe_timeout: float = 5.0, download_timeout: float = 60.0
) -> Path:
    """Download and extract CIFAR-10 into the Keras cache once; return the folder of batches.

    cache_dir defaults to the Keras cache (KERAS_HOME or ~/.keras). Fails within about probe_timeout seconds
    when the server cannot be reached, and after download_timeout seconds without data when a download stalls.
    The timeouts belong to this function's own connections; socket.setdefaulttimeout is never touched.
    The archive is downloaded here, with those timeouts, and checked against its SHA-256; keras.utils.get_file
    then finds it in the cache (the same name as keras.datasets.cifar10.load_data() uses) and only extracts it.
    """
    import keras

    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else keras_cache_dir()
    archive = _cached_archive(cache_dir)
    try:
        archive.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CIFAR10Unavailable(
            f"Cannot create the download folder {archive.parent} ({error}). {how_to_get_the_data()}"
        ) from None
    if not os.access(cache_dir, os.W_OK):  # get_file would silently switch to /tmp/.keras and download again
        raise CIFAR10Unavailable(
            f"The download cache {cache_dir} is not writable: pass another cache_dir. {how_to_get_the_data()}"
        )
    if not (archive.is_file() and _sha256(archive) == DOWNLOAD_SHA256):
        reachable, reason = download_reachable(DOWNLOAD_URL, probe_timeout)
        if not reachable:
            raise CIFAR10Unavailable(
                f"Cannot download CIFAR-10: {DOWNLOAD_URL} is not reachable from this machine ({reason}). "
                f"{how_to_get_the_data()}"
            )
        _fetch(DOWNLOAD_URL, archive, DOWNLOAD_SHA256, download_timeout)
    try:  # the archive is in the cache and checked: get_file only extracts (no hash, so it never downloads)
        extracted = keras.utils.get_file(
            fname=KERAS_CACHE_NAME, origin=DOWNLOAD_URL, extract=True, cache_dir=str(cache_dir)
        )
    except Exception as error:  # noqa: BLE001 -- get_file raises bare Exceptions; tarfile its own errors
        raise CIFAR10Unavailable(
            f"Extracting the CIFAR-10 archive {archive} failed ({type(error).__name__}: {error}). "
            f"Delete it to download it again. {how_to_get_the_data()}"
        ) from None
    return find_batch_folder(extracted)


# --------------------------------------------------------------------------------------------------
# The stand-in


def make_standin(num_images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generated images of CIFAR-10's shape whose class only spatial features can tell: stripes.

    A class is one of 5 directions of the stripes (90 to 0 degrees from the horizontal, 22.5 apart, jittered)
    times 2 widths (wide: 1.2 to 2 periods across the image, narrow: 3 to 4), on pixel noise. The colours say
    nothing: each image draws a random stripe colour and paints the gaps in about its complement, so the mean colour
    is grey whatever the class and a classifier of colour statistics stays near chance (tests/test_data.py
    measures it). A horizontal flip turns
    67.5 degrees into 112.5, an angle no class has, and a shift keeps angle and width: the usual augmentations never
    turn one class into another. Balanced: the labels cycle through the 10 classes, shuffled.
    """
    check_positive_int("num_images", num_images)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_images) % 10)
    coords = (np.arange(32) - 15.5) / 16.0
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    images = np.empty((num_images, 32, 32, 3), dtype=np.uint8)
    for start in range(0, num_images, 2048):  # in chunks: float32 work arrays stay small
        y = labels[start : start + 2048]
        n = len(y)
        angle = (y % STANDIN_ORIENTATIONS) * (np.pi / 8) + rng.normal(0.0, 0.05, n)
        wide = y < STANDIN_ORIENTATIONS
        periods = np.where(wide, rng.uniform(1.2, 2.0, n), rng.uniform(3.0, 4.0, n))
        phase = rng.uniform(0, 2 * np.pi, n)
        along = xx[None] * np.cos(angle)[:, None, None] + yy[None] * np.sin(angle)[:, None, None]
        stripes = (np.sin(np.pi * periods[:, None, None] * along + phase[:, None, None]) > 0).astype(np.float32)
        foreground = rng.uniform(0, 1, (n, 3))
        background = np.clip(1 - foreground + rng.normal(0.0, 0.1, (n, 3)), 0, 1)
        picture = (
            stripes[..., None] * foreground[:, None, None, :] + (1 - stripes[..., None]) * background[:, None, None, :]
        )
        picture += rng.normal(0.0, 0.12, picture.shape)
        images[start : start + n] = np.clip(picture * 255 + 0.5, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


# --------------------------------------------------------------------------------------------------
# The one entry point the chapters use

STANDIN_PROFILES = ("smoke", "quick")


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
    from alexnet_book.profiles import resolve_profile

    profile = resolve_profile(profile)
    named = _named_batch_folder(data_dir)
    if named is not None:
        x_train, y_train, x_test, y_test, folder = read_batch_folder(named)
        return CIFAR10(
            x_train,
            y_train,
            x_test,
            y_test,
            source="directory",
            description=(
                f"CIFAR-10 from the folder {folder} ({len(x_train):,} training and {len(x_test):,} test images)"
            ),
        )
    notes = []
    if download:
        try:
            folder = download_cifar10(cache_dir, probe_timeout=probe_timeout)
            x_train, y_train, x_test, y_test, _ = read_batch_folder(folder)
            return CIFAR10(
                x_train,
                y_train,
                x_test,
                y_test,
                source="keras",
                description=f"CIFAR-10 downloaded into the Keras cache ({folder}; "
                f"{len(x_train):,} training and {len(x_test):,} test images)",
            )
        except CIFAR10Error as error:
            if not (allow_standin and profile in STANDIN_PROFILES):
                raise
            notes.append(str(error))
    else:
        notes.append("The download was switched off (download=False; --no-download on the command line).")
    if not (allow_standin and profile in STANDIN_PROFILES):
        why = (
            f"the {profile} profile never uses the generated stand-in"
            if profile not in STANDIN_PROFILES
            else "allow_standin=False"
        )
        raise CIFAR10Unavailable(
            f"No CIFAR-10 data: no folder was given and the download was switched off ({why}). {how_to_get_the_data()}"
        )
    train_count, test_count = standin_size
    x_train, y_train = make_standin(train_count, seed=1)
    x_test, y_test = make_standin(test_count, seed=2)
    return CIFAR10(
        x_train,
        y_train,
        x_test,
        y_test,
        class_names=STANDIN_CLASS_NAMES,
        source="standin",
        notes=tuple(notes),
        description=f"a GENERATED STAND-IN for CIFAR-10 ({train_count:,} training and {test_count:,} test images of "
        "stripes whose class sets their orientation and width, in random colours): not CIFAR-10",
    )


def standin_warning(data: CIFAR10) -> tuple[str, str]:
    """Title and text of the warning a chapter shows when it runs on the stand-in."""
    return (
        "These results are not CIFAR-10 results",
        "CIFAR-10 was not available here, so this page ran on a generated stand-in of the same shape "
        "(32x32x3 uint8, 10 classes of stripes). Every figure and number below describes that stand-in. "
        + how_to_get_the_data(),
    )


def describe_source(source: str) -> str:
    """Where a CIFAR10's images came from, in words for a page ("directory", "keras" or "standin")."""
    return {
        "directory": "CIFAR-10 read from a folder",
        "keras": "CIFAR-10 from the Keras download",
        "standin": "the generated stand-in (not CIFAR-10)",
    }[source]


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
    import hashlib

    digest = hashlib.sha256()
    for name in TRAIN_BATCHES + (TEST_BATCH,):
        path = Path(folder) / name
        digest.update(f"{name} {path.stat().st_size} {_sha256(path)}\n".encode())
    return digest.hexdigest()


VALIDATION_FRACTION = 0.2  # as the seed's train_test_split(test_size=0.2)


def training_subsets(data: CIFAR10, train_size, validation_size, seed: int, names=("train_size", "validation_size")):
    """The seeded 80/20 split of data's training images, then the first train_size and validation_size images of
    each part (None: all of it), as (x_train, y_train, x_validation, y_validation). The training chapter and the
    experiments both cut their images this way; `names` are the caller's names for the two sizes, for errors."""
    x_train, x_val, y_train, y_val = train_validation_split(data.x_train, data.y_train, VALIDATION_FRACTION, seed)
    chosen = []
    for name, wanted, available in zip(names, (train_size, validation_size), (len(x_train), len(x_val))):
        if wanted is not None and wanted > available:
            raise ValueError(
                f"{name}={wanted} but the {data.source} data has only {available} such images after the "
                f"{1 - VALIDATION_FRACTION:.0%}/{VALIDATION_FRACTION:.0%} split: ask for at most {available}, "
                "use more data, or None for all of them."
            )
        chosen.append(available if wanted is None else wanted)
    return x_train[: chosen[0]], y_train[: chosen[0]], x_val[: chosen[1]], y_val[: chosen[1]]


def train_validation_split(
    x: np.ndarray, y: np.ndarray, validation_fraction: float = 0.2, seed: int = 42
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, x_validation, y_train, y_validation): scikit-learn's train_test_split, the seed's own call
    (train_test_split(x, y, test_size=0.2, random_state=42)), so that seed 42 gives the seed's split image for
    image. The validation part gets ceil(fraction * N) images.
    """
    from sklearn.model_selection import train_test_split

    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}.")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must lie strictly between 0 and 1, got {validation_fraction!r}.")
    n_validation = int(np.ceil(validation_fraction * len(x)))
    if n_validation >= len(x):
        raise ValueError(f"{len(x)} images are too few to keep a validation fraction of {validation_fraction}.")
    x_train, x_validation, y_train, y_validation = train_test_split(
        x, y, test_size=validation_fraction, random_state=seed
    )
    assert len(x_validation) == n_validation  # what images_needed and the error messages count on
    return x_train, x_validation, y_train, y_validation
