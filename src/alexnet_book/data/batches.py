"""CIFAR-10's python-format batch files: read safely, found in a folder, and written.

A batch is a pickled dict with b'data' (uint8, N rows of 3072 values) and b'labels' (N whole numbers in 0..9). The
reader accepts any N, any pickle protocol, and the Python 2 pickles of the official files; it never runs code from a
pickle and never hands a pickle's numbers to numpy's own unpickling code (see the comment above the unpickler).
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import reprlib
import warnings
from pathlib import Path

import numpy as np

from alexnet_book.data.official import (
    CLASS_NAMES,
    DOWNLOAD_URL,
    FOLDER_NAME,
    IMAGE_SHAPE,
    ROW_LENGTH,
    TEST_BATCH,
    TRAIN_BATCHES,
    CIFAR10FormatError,
    CIFAR10Unavailable,
    how_to_get_the_data,
)

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
