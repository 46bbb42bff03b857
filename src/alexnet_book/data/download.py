"""CIFAR-10 downloaded once into the Keras cache, where keras.datasets.cifar10.load_data() keeps it too.

The archive is fetched here, with this module's own timeouts (a machine without a network gets its answer in
seconds), checked against its SHA-256, and only then handed to keras.utils.get_file to extract.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from alexnet_book.data.batches import find_batch_folder
from alexnet_book.data.official import (
    DOWNLOAD_SHA256,
    DOWNLOAD_URL,
    CIFAR10Unavailable,
    how_to_get_the_data,
)

# The name keras.datasets.cifar10.load_data() caches the archive under: the same, so both share one copy.
KERAS_CACHE_NAME = "cifar-10-batches-py-target"


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


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's contents, read a megabyte at a time."""
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
    if file_sha256(partial) != sha256:
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
    if not (archive.is_file() and file_sha256(archive) == DOWNLOAD_SHA256):
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
