"""alexnet_book.data: reading CIFAR-10's python batches, the download's fast failure offline, the stand-in, the
split."""

import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

# Keep Keras's cache out of the reader's home even when this file runs without the suite's conftest.
if "keras" not in sys.modules:
    os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="alexnet-book-test-data-"))

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alexnet_book import data
from alexnet_book.data import (
    STANDIN_CLASS_NAMES,
    CIFAR10FormatError,
    CIFAR10Unavailable,
    download,  # the module: the tests point its address, checksum and probe elsewhere
    load_cifar10,
    make_standin,
    read_batch,
    train_validation_split,
    write_python_batches,
)


def random_images(count, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, count)


@pytest.fixture
def small_cifar(tmp_path):
    """A folder in the real format with uneven rows per training batch (the real files have 10,000 each)."""
    x_train, y_train = random_images(20, seed=1)
    x_test, y_test = random_images(6, seed=2)
    folder = write_python_batches(
        tmp_path / "cifar-10-batches-py", x_train, y_train, x_test, y_test, train_rows=[7, 3, 1, 5, 4]
    )
    return folder, (x_train, y_train, x_test, y_test)


@pytest.fixture(autouse=True)
def no_data_dir_from_environment(monkeypatch):
    monkeypatch.delenv(data.ENV_VARIABLE, raising=False)


def test_round_trip_with_uneven_batches(small_cifar):
    folder, (x_train, y_train, x_test, y_test) = small_cifar
    loaded = load_cifar10(folder, profile="full")
    assert loaded.source == "directory" and not loaded.is_standin
    assert loaded.x_train.dtype == np.uint8 and loaded.x_train.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(loaded.x_train, x_train)
    np.testing.assert_array_equal(loaded.y_train, y_train)
    np.testing.assert_array_equal(loaded.x_test, x_test)
    np.testing.assert_array_equal(loaded.y_test, y_test)
    assert loaded.class_names[0] == "airplane" and len(loaded.class_names) == 10
    assert str(folder) in loaded.description


def test_rows_are_channel_major_like_the_real_files(tmp_path):
    """The first 1024 values of a row are the red plane: a pure red image has them all at 255."""
    red = np.zeros((5, 32, 32, 3), np.uint8)
    red[..., 0] = 255
    folder = write_python_batches(tmp_path, red, np.zeros(5, int), red[:1], np.zeros(1, int))
    with open(folder / "test_batch", "rb") as handle:
        assert handle.read(2) == b"\x80\x04"  # pickle protocol 4, which Keras's own reader accepts
        handle.seek(0)
        row = pickle.load(handle, encoding="bytes")[b"data"][0]
    assert (row[:1024] == 255).all() and (row[1024:] == 0).all()
    images, labels = read_batch(folder / "test_batch")
    assert (images[..., 0] == 255).all() and (images[..., 1:] == 0).all() and labels.tolist() == [0]


def test_keras_reads_the_files_it_writes(small_cifar):
    from keras.src.datasets.cifar import load_batch  # what keras.datasets.cifar10.load_data() reads with

    folder, (x_train, _, _, _) = small_cifar
    rows, labels = load_batch(str(folder / "data_batch_1"))
    np.testing.assert_array_equal(rows.transpose(0, 2, 3, 1), x_train[:7])


def test_parent_folder_and_environment_variable(small_cifar, monkeypatch):
    folder, (x_train, *_) = small_cifar
    from_parent = load_cifar10(folder.parent, profile="full")
    np.testing.assert_array_equal(from_parent.x_train, x_train)
    monkeypatch.setenv(data.ENV_VARIABLE, str(folder))
    from_environment = load_cifar10(profile="full", download=False)
    assert from_environment.source == "directory"
    np.testing.assert_array_equal(from_environment.x_train, x_train)


def test_missing_folder_names_it_and_says_how_to_get_the_data(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(CIFAR10Unavailable, match="does not exist") as caught:
        load_cifar10(missing, profile="smoke")  # a folder that was asked for is never replaced by the stand-in
    assert str(missing) in str(caught.value) and data.DOWNLOAD_URL in str(caught.value)
    assert data.ENV_VARIABLE in str(caught.value)


def test_a_folder_named_by_the_environment_variable_is_named_as_such(tmp_path, monkeypatch):
    """A reader may not remember having set the variable: the message says where the path came from, and that
    unsetting it brings the download back."""
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv(data.ENV_VARIABLE, str(missing))
    expected = f"The environment variable {data.ENV_VARIABLE} is set to '{missing}', which holds no CIFAR-10"
    with pytest.raises(CIFAR10Unavailable, match=expected) as caught:
        load_cifar10(profile="smoke")
    assert "unset it to download" in str(caught.value) and f"{missing} does not exist" in str(caught.value)
    with pytest.raises(CIFAR10Unavailable, match=expected):
        data.locate_cifar10()
    with pytest.raises(CIFAR10Unavailable) as given:  # a folder passed as data_dir is the reader's own words
        load_cifar10(missing, profile="smoke")
    assert data.ENV_VARIABLE + " is set" not in str(given.value)


def test_the_instructions_give_the_archive_s_size():
    assert "cifar-10-python.tar.gz (170 MB)" in data.how_to_get_the_data()


def test_folder_without_batches(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CIFAR10Unavailable, match="holds no CIFAR-10 batches"):
        load_cifar10(tmp_path, profile="full")


def test_archive_not_extracted(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"not really")
    with pytest.raises(CIFAR10Unavailable, match="tar xzf"):
        load_cifar10(tmp_path, profile="full")


def test_missing_batch_file_is_named(small_cifar):
    folder, _ = small_cifar
    (folder / "data_batch_4").unlink()
    with pytest.raises(CIFAR10FormatError, match="lacks data_batch_4") as caught:
        load_cifar10(folder, profile="full")
    assert "data_batch_1" not in str(caught.value).split("lacks")[1].split(":")[0]


def test_a_malformed_batch_in_a_folder_stops_load_cifar10_naming_the_file(small_cifar):
    # At smoke too: a folder the reader named is never replaced by the stand-in (each malformed file: below).
    folder, _ = small_cifar
    path = folder / "data_batch_2"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CIFAR10FormatError, match="truncated or corrupt") as caught:
        load_cifar10(folder, profile="smoke")
    assert str(path) in str(caught.value) and "fresh extract" in str(caught.value)


@pytest.fixture
def no_network(monkeypatch):
    """The download's host does not resolve, as on a machine without a network (.invalid never resolves)."""
    monkeypatch.setattr(download, "DOWNLOAD_URL", "https://cifar.example.invalid/cifar-10-python.tar.gz")


@pytest.fixture
def black_hole(monkeypatch):
    """A server that accepts the connection and never answers, as behind a firewall that drops packets."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # connections complete in the backlog; nobody ever reads or writes
    monkeypatch.setattr(
        download, "DOWNLOAD_URL", f"http://127.0.0.1:{listener.getsockname()[1]}/cifar-10-python.tar.gz"
    )
    yield
    listener.close()


@pytest.mark.parametrize("network", ["no_network", "black_hole"])
def test_offline_full_fails_fast_with_instructions(network, request, tmp_path):
    request.getfixturevalue(network)
    cache = tmp_path / "keras-cache"
    started = time.perf_counter()
    with pytest.raises(CIFAR10Unavailable) as caught:
        load_cifar10(profile="full", cache_dir=cache, probe_timeout=1.0)
    assert time.perf_counter() - started < 4
    text = str(caught.value)
    assert "not reachable" in text and data.ENV_VARIABLE in text and "tar xzf" in text
    assert not (cache / "datasets" / f"{data.KERAS_CACHE_NAME}_archive").exists()


def test_offline_smoke_falls_back_to_the_standin_and_says_why(no_network, tmp_path):
    loaded = load_cifar10(profile="smoke", cache_dir=tmp_path, probe_timeout=1.0, standin_size=(50, 20))
    assert loaded.is_standin and loaded.x_train.shape == (50, 32, 32, 3) and loaded.x_test.shape == (20, 32, 32, 3)
    assert "not reachable" in loaded.notes[0] and "not CIFAR-10" in loaded.description
    title, message = data.standin_warning(loaded)
    assert "not CIFAR-10" in title and data.DOWNLOAD_URL in message


def test_failed_download_after_a_good_probe_is_a_clear_error(monkeypatch, tmp_path):
    """The server answers the probe but the download fails: get_file's bare Exception becomes our message."""
    monkeypatch.setattr(download, "DOWNLOAD_URL", closed_port_url())
    monkeypatch.setattr(download, "download_reachable", lambda *args: (True, ""))
    with pytest.raises(CIFAR10Unavailable, match="Downloading CIFAR-10 from .* failed"):
        load_cifar10(profile="quick", allow_standin=False, cache_dir=tmp_path / "cache")


def test_smoke_never_touches_the_real_keras_cache(no_network):
    real = Path.home() / ".keras"
    before = sorted((str(p), p.stat().st_mtime_ns) for p in real.rglob("*")) if real.exists() else None
    load_cifar10(profile="smoke", probe_timeout=1.0, standin_size=(20, 10))  # default cache: KERAS_HOME
    after = sorted((str(p), p.stat().st_mtime_ns) for p in real.rglob("*")) if real.exists() else None
    assert before == after
    assert not str(data.keras_cache_dir()).startswith(str(real))


def test_no_download_and_full_never_falls_back():
    with pytest.raises(CIFAR10Unavailable, match="full profile never uses the generated stand-in"):
        load_cifar10(profile="full", download=False)
    with pytest.raises(CIFAR10Unavailable, match="allow_standin=False"):
        load_cifar10(profile="smoke", download=False, allow_standin=False)
    standin = load_cifar10(profile="smoke", download=False, standin_size=(30, 10))
    assert standin.is_standin and standin.notes == (
        "The download was switched off (download=False; --no-download on the command line).",
    )
    assert standin.class_names == STANDIN_CLASS_NAMES and len(standin.x_train) == 30 and len(standin.x_test) == 10
    assert standin.description.startswith("a GENERATED STAND-IN for CIFAR-10 (30 training and 10 test images of ")


def test_standin_is_balanced_seeded_and_not_constant():
    images, labels = make_standin(200, seed=3)
    assert images.dtype == np.uint8 and images.shape == (200, 32, 32, 3) and labels.shape == (200,)
    assert np.bincount(labels, minlength=10).tolist() == [20] * 10
    again, _ = make_standin(200, seed=3)
    other, _ = make_standin(200, seed=4)
    np.testing.assert_array_equal(images, again)
    assert not np.array_equal(images, other)
    assert images.std() > 30  # real texture, not flat colour
    with pytest.raises(ValueError, match="positive whole number"):
        make_standin(0)


def test_standin_class_names_give_the_stripes_angle_from_the_horizontal():
    """A step of 3 pixels along the stripes stays on the same stripe: for the classes named 0, 45 and 90 degrees,
    the grey image correlates with itself most along that direction (of 0, 45, 90 and 135; a row up is -1)."""
    images, labels = make_standin(400, seed=6)
    grey = images.astype(np.float32).mean(axis=-1)
    grey -= grey.mean(axis=(1, 2), keepdims=True)
    steps = {"0°": (0, 3), "45°": (-3, 3), "90°": (-3, 0), "135°": (3, 3)}

    def correlation(picked, step):
        moved = np.roll(grey[picked], shift=step, axis=(1, 2))
        inner = np.s_[:, 4:-4, 4:-4]  # away from the wrap-around
        return (grey[picked] * moved)[inner].mean() / (grey[picked] ** 2)[inner].mean()

    checked = 0
    for k, name in enumerate(STANDIN_CLASS_NAMES):
        angle = name.split()[-1]
        if angle in steps:
            along = {direction: correlation(labels == k, step) for direction, step in steps.items()}
            assert max(along, key=along.get) == angle and along[angle] > 0.7, (name, along)
            checked += 1
    assert checked == 6


def colour_statistics(images):
    """Per image, what ignores where the pixels are: each channel's mean, spread and 8-bin histogram."""
    pixels = images.reshape(len(images), -1, 3).astype(np.float32) / 255
    histograms = [[np.histogram(image[:, c], bins=8, range=(0, 1))[0] for c in range(3)] for image in pixels]
    histograms = np.asarray(histograms, np.float32).reshape(len(images), -1) / pixels.shape[1]
    return np.concatenate([pixels.mean(axis=1), pixels.std(axis=1), histograms], axis=1)


def stripe_spectrum(images):
    """Per image, the magnitude of the grey image's 2-D Fourier transform: orientation and width, not colour."""
    grey = images.astype(np.float32).mean(axis=-1) / 255
    return np.abs(np.fft.rfft2(grey - grey.mean(axis=(1, 2), keepdims=True))).reshape(len(images), -1)


def test_standin_classes_need_spatial_features_not_colour():
    """Colour statistics classify the stand-in near chance (0.10), below the 2x chance that chapter 6 asserts its
    AlexNet beats, so passing there needs spatial features; the stripes' spectrum classifies it almost perfectly,
    so a network has something to learn."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    images, labels = make_standin(3000, seed=5)
    train, test = slice(0, 2000), slice(2000, None)

    def accuracy(classifier, features):
        classifier.fit(features[train], labels[train])
        return np.mean(classifier.predict(features[test]) == labels[test])

    colour = colour_statistics(images)
    assert accuracy(LogisticRegression(max_iter=3000), colour) < 0.15
    assert accuracy(RandomForestClassifier(200, random_state=0), colour) < 0.17
    assert accuracy(LogisticRegression(max_iter=3000), stripe_spectrum(images)) > 0.85


def test_split_is_seeded_disjoint_and_80_20():
    x = np.arange(103)
    y = x % 10
    x_train, x_val, y_train, y_val = train_validation_split(x, y, 0.2, seed=42)
    assert len(x_val) == 21 and len(x_train) == 82  # ceil(0.2 * 103), as scikit-learn's train_test_split
    assert sorted(np.concatenate([x_train, x_val]).tolist()) == x.tolist()
    np.testing.assert_array_equal(y_train, x_train % 10)  # images and labels stay paired
    again = train_validation_split(x, y, 0.2, seed=42)
    np.testing.assert_array_equal(again[1], x_val)
    assert not np.array_equal(train_validation_split(x, y, 0.2, seed=7)[1], x_val)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_split_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        train_validation_split(np.arange(10), np.arange(10), fraction)


def test_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        train_validation_split(np.arange(10), np.arange(9))


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.integers(0, 4), min_size=5, max_size=5), test_rows=st.integers(1, 4))
def test_any_rows_per_batch_round_trip(rows, test_rows):
    with tempfile.TemporaryDirectory() as folder:
        x_train, y_train = random_images(sum(rows), seed=sum(rows))
        x_test, y_test = random_images(test_rows, seed=9)
        write_python_batches(folder, x_train, y_train, x_test, y_test, train_rows=rows)
        loaded = load_cifar10(folder, profile="full")
        np.testing.assert_array_equal(loaded.x_train, x_train)
        np.testing.assert_array_equal(loaded.y_train, y_train)


def test_writer_refuses_to_replace_batches(small_cifar):
    folder, (x_train, y_train, x_test, y_test) = small_cifar
    with pytest.raises(FileExistsError, match="already holds"):
        write_python_batches(folder, x_train, y_train, x_test, y_test)


# --------------------------------------------------------------------------------------------------
# Every format a batch file comes in (any pickle protocol, Python 2's), corrupt files refused before they can crash
# the reader, and the download's timeouts


def a_batch(rows=3, seed=0):
    images, labels = random_images(rows, seed)
    return (
        images,
        labels,
        {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": [int(label) for label in labels],
            b"data": np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(rows, 3072)),
            b"filenames": [f"{i:05d}.png".encode() for i in range(rows)],
        },
    )


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("keys", ["bytes", "str"])
def test_any_pickle_protocol_is_read(tmp_path, protocol, keys):
    images, labels, batch = a_batch()
    if keys == "str":
        batch = {key.decode(): value for key, value in batch.items()}
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    got_images, got_labels = read_batch(path)
    np.testing.assert_array_equal(got_images, images)
    assert got_labels.dtype == np.int64 and got_labels.tolist() == labels.tolist()


def test_numpy_label_vector_and_big_endian_rows_are_read(tmp_path):
    images, labels, batch = a_batch()
    batch[b"labels"] = labels.astype(">i4")
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    got_images, got_labels = read_batch(path)
    np.testing.assert_array_equal(got_images, images)
    assert got_labels.dtype == np.int64 and got_labels.tolist() == labels.tolist()


def python2_pickle(rows: np.ndarray, labels: list) -> bytes:
    """A batch as Python 2 and numpy 1 wrote the official files: protocol 2, str (bytes) keys and type codes,
    numpy.core names, the pixels as one BINSTRING."""

    def short(text: bytes) -> bytes:
        return b"U" + bytes([len(text)]) + text

    raw = rows.tobytes()
    return (
        b"\x80\x02}q\x01(" + short(b"data") + b"q\x02cnumpy.core.multiarray\n_reconstruct\nq\x03cnumpy\nndarray\nq\x04"
        b"K\x00\x85"
        + short(b"b")
        + b"\x87Rq\x05(K\x01K"
        + bytes([len(rows)])
        + b"M\x00\x0c\x86cnumpy\ndtype\nq\x06"
        + short(b"u1")
        + b"K\x00K\x01\x87Rq\x07(K\x03"
        + short(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
        b"T"
        + len(raw).to_bytes(4, "little")
        + raw
        + b"tb"
        + short(b"labels")
        + b"q\x08]q\x09("
        + b"".join(b"K" + bytes([label]) for label in labels)
        + b"e"
        + short(b"batch_label")
        + b"q\x0a"
        + short(b"training batch 1 of 5")
        + b"u."
    )


def test_python2_format_of_the_official_files_is_read(tmp_path):
    images, labels, batch = a_batch()
    payload = python2_pickle(batch[b"data"], batch[b"labels"])
    assert pickle.loads(payload, encoding="bytes")[b"labels"] == batch[b"labels"]  # the helper writes a real pickle
    path = tmp_path / "data_batch_1"
    path.write_bytes(payload)
    got_images, got_labels = read_batch(path)
    np.testing.assert_array_equal(got_images, images)
    assert got_labels.tolist() == labels.tolist()


def assert_format_error(path, message=""):
    with pytest.raises(CIFAR10FormatError, match=message) as caught:
        read_batch(path)
    text = str(caught.value)
    assert str(path) in text and "fresh extract" in text and "pickled dict with b'data'" in text
    return text


def test_corrupt_dtype_state_is_an_error_not_a_crash(tmp_path):
    """numpy's dtype.__setstate__ given a malformed tuple kills the process (segfault), so the reader never hands
    a pickle's numbers to numpy's own unpickling code."""
    payload = bytearray(python2_pickle(a_batch()[2][b"data"], [1, 2, 3]))
    state = b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    at = payload.index(state)
    payload[at : at + len(state)] = b"(K\x03U\x01|NJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"  # two Nones fewer
    path = tmp_path / "data_batch_1"
    path.write_bytes(bytes(payload))
    assert_format_error(path, "malformed dtype state")


def test_huge_memo_index_is_refused_before_allocating(tmp_path):
    """One corrupt LONG_BINPUT would make the C unpickler allocate 8 bytes per memo slot up to its index."""
    import tracemalloc

    path = tmp_path / "data_batch_1"
    path.write_bytes(b"\x80\x04]r" + (50_000_000).to_bytes(4, "little") + b".")
    tracemalloc.start()
    try:
        assert_format_error(path, "memo index 50000000")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000  # not the 400 MB of memo the index asks for


def pickled(data, labels) -> bytes:
    return pickle.dumps({b"data": data, b"labels": labels}, protocol=4)


@pytest.mark.parametrize(
    "payload, message",
    [
        (pickle.dumps(a_batch()[2], protocol=4)[:1000], "truncated or corrupt"),
        (b"\x00garbage" * 10, "truncated or corrupt"),
        (pickle.dumps([1, 2, 3], protocol=4), "holds a list, not the dict"),
        (pickle.dumps({b"pixels": np.zeros((2, 3072), np.uint8)}, protocol=4), "without the keys"),
        (pickled(np.zeros((2, 1024), np.uint8), [0, 1]), "3072 values per row"),
        (pickled(np.zeros((2, 3072), np.float32), [0, 1]), "must be uint8"),
        (pickled(np.zeros((2, 3072), np.uint8), [0]), "one per row"),
        (pickled(np.zeros((2, 3072), np.uint8), [0, 12]), "0..9"),
        # a pickle that would run a command when loaded with plain pickle.load
        (b"cos\nsystem\n(S'echo owned'\ntR.", "refusing to load os.system"),
        (pickled(np.zeros((2, 3072), object), [0, 1]), "refusing dtype"),
        (pickled(np.zeros((2, 3072), np.uint8), [0, True]), "not all whole"),
        (pickled(np.zeros((2, 3072), np.uint8), [0, 2**70]), "0..9"),
        (pickled([[0] * 3072] * 2, [0, 1]), "got a list"),
        (pickled(np.zeros((2, 3072), np.uint8), np.zeros((2, 1), np.int64)), "one per row"),
        (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R.", "refusing _codecs.encode"),
        (b"\x80\x04cbuiltins\neval\n.", "refusing to load builtins.eval"),
        # _reconstruct without the BUILD that gives the array its contents
        (
            b"\x80\x04}(C\x04datacnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
            b"C\x06labels]u.",
            "array without its contents|_ArrayWithoutContents",
        ),
    ],
)
def test_a_malformed_batch_is_refused_naming_the_file_and_the_fix(tmp_path, payload, message):
    path = tmp_path / "data_batch_1"
    path.write_bytes(payload)
    assert_format_error(path, message)


def test_data_package_uses_no_private_keras_modules():
    modules = sorted(Path(data.__file__).parent.glob("*.py"))
    assert len(modules) > 1 and not [path.name for path in modules if "keras.src" in path.read_text()]


def closed_port_url():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now: a connection is refused at once
    return f"http://127.0.0.1:{port}/cifar-10-python.tar.gz"


def test_the_process_wide_socket_timeout_is_never_touched(monkeypatch, tmp_path):
    import socket

    calls = []
    real_set = socket.setdefaulttimeout
    previous = socket.getdefaulttimeout()
    real_set(37.0)
    try:
        monkeypatch.setattr(socket, "setdefaulttimeout", lambda value: calls.append(value) or real_set(value))
        monkeypatch.setattr(download, "DOWNLOAD_URL", closed_port_url())
        reachable, reason = download.download_reachable(download.DOWNLOAD_URL, timeout=1.0)
        assert not reachable and reason
        monkeypatch.setattr(download, "download_reachable", lambda *args: (True, ""))  # on to the download itself
        with pytest.raises(CIFAR10Unavailable, match="Downloading CIFAR-10 from .* failed"):
            data.download_cifar10(tmp_path / "cache", probe_timeout=1.0, download_timeout=1.0)
        assert socket.getdefaulttimeout() == 37.0 and calls == []
    finally:
        real_set(previous)


def test_a_stalled_download_gives_up_after_its_own_timeout(black_hole, monkeypatch, tmp_path):
    monkeypatch.setattr(download, "download_reachable", lambda *args: (True, ""))
    started = time.perf_counter()
    with pytest.raises(CIFAR10Unavailable, match="failed .*timed out"):
        data.download_cifar10(tmp_path, download_timeout=1.0)
    assert time.perf_counter() - started < 5
    assert list((tmp_path / "datasets").iterdir()) == []  # no partial archive left behind


@pytest.fixture
def archive_server(tmp_path):
    """A local HTTP server with a small CIFAR-10 archive in the official layout; its URL, SHA-256 and hit count."""
    import hashlib
    import http.server
    import tarfile
    import threading

    x_train, y_train = random_images(10, seed=3)
    x_test, y_test = random_images(4, seed=4)
    write_python_batches(tmp_path / "src" / "cifar-10-batches-py", x_train, y_train, x_test, y_test)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    body = archive.read_bytes()
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/cifar-10-python.tar.gz"
    yield url, hashlib.sha256(body).hexdigest(), hits, x_train
    server.shutdown()
    server.server_close()


def test_download_checks_the_hash_caches_and_extracts(archive_server, monkeypatch, tmp_path):
    url, sha256, hits, x_train = archive_server
    monkeypatch.setattr(download, "DOWNLOAD_URL", url)
    monkeypatch.setattr(download, "DOWNLOAD_SHA256", sha256)
    monkeypatch.setattr(download, "download_reachable", lambda *args: (True, ""))
    cache = tmp_path / "cache"
    folder = data.download_cifar10(cache, download_timeout=5.0)
    assert folder.name == "cifar-10-batches-py" and len(hits) == 1
    assert (cache / "datasets" / f"{data.KERAS_CACHE_NAME}_archive").is_file()
    np.testing.assert_array_equal(data.read_batch_folder(folder)[0], x_train)
    monkeypatch.setattr(download, "download_reachable", lambda *args: pytest.fail("a cached archive needs no network"))
    assert data.download_cifar10(cache) == folder and len(hits) == 1
    loaded = load_cifar10(profile="full", cache_dir=cache)  # no folder named: the cached download
    assert loaded.source == "keras" and loaded.class_names == data.CLASS_NAMES and loaded.notes == ()
    assert loaded.description == f"CIFAR-10 downloaded into the Keras cache ({folder}; 10 training and 4 test images)"
    np.testing.assert_array_equal(loaded.x_train, x_train)


def test_download_with_the_wrong_hash_is_refused_and_not_kept(archive_server, monkeypatch, tmp_path):
    url, _, hits, _ = archive_server
    monkeypatch.setattr(download, "DOWNLOAD_URL", url)
    monkeypatch.setattr(download, "DOWNLOAD_SHA256", "0" * 64)
    monkeypatch.setattr(download, "download_reachable", lambda *args: (True, ""))
    with pytest.raises(CIFAR10Unavailable, match="incomplete or corrupt"):
        data.download_cifar10(tmp_path / "cache", download_timeout=5.0)
    assert len(hits) == 1 and list((tmp_path / "cache" / "datasets").iterdir()) == []
