"""Build the book (`make book`) so that no page shows results that what it ran with no longer produces.

jupyter-cache keys an executed notebook by its code cells only, and Sphinx does not re-read a source that has not
changed: left alone, `ALEXNET_BOOK_PROFILE=quick make book` after a smoke build serves the smoke run in 3 seconds,
and so does a build after a change to the package or on a machine that has gained a GPU. This script computes a
*build key* from everything a page depends on besides its own code:

  profile   what PROFILE="auto" resolves to (alexnet_book.profiles.resolve_profile: ALEXNET_BOOK_PROFILE, else
            full where a GPU is present and quick elsewhere),
  backend   the Keras backend (KERAS_BACKEND, else the backend in keras.json, else tensorflow),
  device    the NVIDIA GPUs nvidia-smi lists ("cpu" where none),
  package   a hash of the package's source (every *.py under it and its recorded/*.json),
  versions  of Python, NumPy, Keras and the backend's library,
  data      where the chapters' CIFAR-10 comes from and which files it is: the folder ALEXNET_BOOK_CIFAR10_DIR
            names or the download in the Keras cache, with a hash of its six batch files, or the generated
            stand-in (alexnet_book.data.locate_cifar10). Where CIFAR-10 is on neither but can be downloaded, it is
            downloaded here, once, before any page runs, so that the key says what the pages will read.

and compares it with the key of the last build (_build/.build-key.json). A notebook's own code is left to
jupyter-cache, which already re-executes a notebook whose code changed.

Where the key differs, the whole execution cache is set aside (every chapter imports the package and reads the
profile, so per-notebook invalidation would invalidate them all anyway): it is moved under
_build/.jupyter_cache-by-key/<key>/ (the last few keys are kept), the cache of the new key is moved back in where
one is kept (switching smoke -> quick -> smoke runs nothing the third time), and Sphinx starts from a fresh
environment (`jupyter-book build --all`) so that every page is re-read. With the key unchanged the build is the
ordinary incremental one: nothing is re-executed. The key is stored only after a successful build; after a failed
one every page is re-read again (cached notebooks are still served), so that its warnings are not lost.

Every page's footer says what the notebooks ran with: the profile, the data, the backend (and the chapters that
choose their own), the device, and the package's commit (`git rev-parse --short HEAD`, "+modified" where the
package's source differs from it) and source hash.

The Korean edition (ko/, where the book has one) is built next, into _build/html/ko/, from the same execution
cache: its chapters are twins of the English ones (tools/editions.py checks their code cells before anything runs),
so it executes nothing, and the build fails if it does.

Usage: python tools/build_book.py [BOOK] [--package SOURCE_FOLDER] [-- JUPYTER_BOOK_BUILD_OPTIONS]
(defaults: this repository, src/alexnet_book, and -W -n --keep-going).
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PACKAGE = REPO_ROOT / "src" / "alexnet_book"
DEFAULT_BUILD_OPTIONS = ["-W", "-n", "--keep-going"]
STATE_NAME = ".build-key.json"
CONFIG_NAME = ".build-config.yml"
KOREAN = "ko"  # the Korean edition's folder in the book, and its site's folder in _build/html
KEPT_CACHES = 3  # caches of earlier keys kept for a switch back (smoke <-> quick)
# What each backend computes with: a change of these versions changes the numbers on the pages.
BACKEND_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "jax": ("jax", "jaxlib"),
    "torch": ("torch",),
}
KEY_FIELDS = ("profile", "data", "backend", "device", "package", "versions")


def log(message: str) -> None:
    print(f"[build_book] {message}", flush=True)


# --- the key -------------------------------------------------------------------------------------------------------


def package_files(package: Path) -> list[Path]:
    files = [p for p in package.rglob("*.py") if "__pycache__" not in p.parts]
    files += list((package / "recorded").glob("*.json"))
    return sorted(set(files))


def package_hashes(package: Path) -> dict[str, str]:
    """sha256 of each source file of the package, by its path relative to the package folder."""
    return {
        p.relative_to(package).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in package_files(package)
    }


def combined_hash(files: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def keras_backend() -> str:
    """The backend Keras will use, read as Keras reads it, without importing Keras."""
    backend = os.environ.get("KERAS_BACKEND", "").strip()
    if backend:
        return backend
    home = Path(os.environ["KERAS_HOME"]) if os.environ.get("KERAS_HOME") else Path.home() / ".keras"
    try:
        backend = json.loads((home / "keras.json").read_text()).get("backend", "")
    except (OSError, ValueError, AttributeError):
        backend = ""
    return backend or "tensorflow"


def gpu_device() -> str:
    """The NVIDIA GPUs of this machine as nvidia-smi names them, or "cpu" (cheap: no framework is imported)."""
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return "cpu"
    names = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return ", ".join(names) if result.returncode == 0 and names else "cpu"


def import_book_package():
    """The book's own package (from this repository's src/, whatever is installed)."""
    if str(REPO_ROOT / "src") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "src"))
    import alexnet_book

    return alexnet_book


def resolve_profile() -> str:
    """What a chapter's PROFILE="auto" becomes in this environment, asked of the book's own package."""
    import_book_package()
    # Without ALEXNET_BOOK_PROFILE this imports the backend to look for a GPU: quiet its log lines here (the
    # notebooks' kernels get the environment as it was).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from alexnet_book.profiles import resolve_profile as resolve

    return resolve("auto")


def data_source() -> str:
    """What CIFAR-10 the chapters will read (see the module's docstring): "directory <folder> <hash>",
    "keras <folder> <hash>" or "standin". Raises ValueError for a named folder that holds no CIFAR-10."""
    import_book_package()
    from alexnet_book import data

    try:
        source, folder = data.locate_cifar10()
        if source is None:
            reachable, reason = data.download_reachable()
            if not reachable:
                log(f"CIFAR-10 is neither in a folder nor in the Keras cache, and cannot be downloaded ({reason}):")
                log("the smoke and quick pages run on the generated stand-in and say so; the full profile stops.")
                return "standin"
            log("CIFAR-10 is not on this machine yet: downloading it once, before any page runs.")
            source, folder = "keras", data.download_cifar10()
    except data.CIFAR10Error as error:
        raise ValueError(str(error)) from None
    return f"{source} {folder} {data.fingerprint(folder)[:16]}"


def own_backends(book: Path) -> dict[str, str]:
    """Chapters that choose their Keras backend themselves (chapter 10 sets KERAS_BACKEND=jax): notebook -> backend."""
    found = {}
    for notebook in sorted(book.glob("chapters/*.ipynb")):
        for cell in json.loads(notebook.read_text()).get("cells", []):
            match = re.search(r'os\.environ\["KERAS_BACKEND"\] = "(\w+)"', "".join(cell.get("source", [])))
            if cell.get("cell_type") == "code" and match:
                found[notebook.stem] = match.group(1)
    return found


def versions(backends: set[str]) -> dict[str, str]:
    found = {"python": platform.python_version()}
    libraries = [name for backend in sorted(backends) for name in BACKEND_DISTRIBUTIONS.get(backend, ())]
    for name in ("numpy", "keras", *libraries):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def git_commit(package: Path) -> str | None:
    """Short commit of HEAD, with "+modified" where the package's source differs from it; None without git."""

    def git(*args):
        return subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True, timeout=60)

    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return None
        status = git("status", "--porcelain", "--untracked-files=all", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return None
    changed = [line for line in status.stdout.splitlines() if line.rstrip().endswith((".py", ".json"))]
    return head.stdout.strip() + ("+modified" if changed else "")


def compute_key(package: Path, book: Path = REPO_ROOT) -> dict:
    backend = keras_backend()
    files = package_hashes(package)
    chosen = own_backends(book)  # part of the chapters' code, which jupyter-cache keys already: not in the key
    key = {
        "profile": resolve_profile(),
        "data": data_source(),
        "backend": backend,
        "device": gpu_device(),
        "package": combined_hash(files),
        "versions": versions({backend, *chosen.values()}),
    }
    return {
        "key": key,
        "digest": combined_hash(key)[:16],
        "files": files,
        "package_name": package.name,
        "commit": git_commit(package),
        "own_backends": chosen,
    }


def differences(old: dict | None, new: dict) -> list[str]:
    """What changed between two keys, in words."""
    if not old or "key" not in old:
        return []
    before, after = old["key"], new["key"]
    changes = []
    for field in KEY_FIELDS:
        if before.get(field) == after.get(field):
            continue
        if field == "package":
            old_files, new_files = old.get("files", {}), new["files"]
            touched = sorted(f for f in set(old_files) | set(new_files) if old_files.get(f) != new_files.get(f))
            changes.append(f"the package's source changed ({', '.join(touched) or 'contents'})")
        elif field == "versions":
            changed = sorted(
                k for k in set(before[field]) | set(after[field]) if before[field].get(k) != after[field].get(k)
            )
            changes.append(
                "versions changed: "
                + ", ".join(f"{k} {before[field].get(k, '-')} -> {after[field].get(k, '-')}" for k in changed)
            )
        else:
            changes.append(f"{field} {before.get(field)} -> {after.get(field)}")
    return changes


def data_words(data: str, language: str = "en") -> str:
    """The key's data field in words for the footer (language "en" or "ko")."""
    source, _, rest = data.partition(" ")
    folder = rest.rsplit(" ", 1)[0]
    if language == "ko":
        return {
            "directory": f"폴더 {folder}의 CIFAR-10",
            "keras": "Keras 캐시에 내려받은 CIFAR-10",
        }.get(source, "생성한 대체 데이터(CIFAR-10 아님)")
    return {
        "directory": f"CIFAR-10 from the folder {folder}",
        "keras": "CIFAR-10 downloaded into the Keras cache",
    }.get(source, "the generated stand-in, not CIFAR-10")


def backend_words(key: dict, language: str = "en") -> str:
    """The backend, and the chapters that chose another, in words for the footer (language "en" or "ko")."""
    backend = key["key"]["backend"]
    others = [(name, own) for name, own in sorted((key.get("own_backends") or {}).items()) if own != backend]
    if language == "ko":
        chosen = ", ".join(f"{name}은 {own}" for name, own in others)
        return f"Keras {backend} 백엔드" + (f"({chosen}: 장이 직접 고름)" if others else "")
    chosen = ", ".join(f"{name} on {own}" for name, own in others)
    return f"the Keras {backend} backend" + (f" ({chosen}: its own choice)" if others else "")


def describe(key: dict) -> str:
    k = key["key"]
    commit = key["commit"] or "(not in git)"
    return (
        f"profile {k['profile']}, data {data_words(k['data'])}, backend {k['backend']}, device {k['device']}, "
        f"{key['package_name']} {commit} (source {k['package'][:12]})"
    )


def footer(key: dict, language: str = "en") -> str:
    k = key["key"]
    if language == "ko":
        commit = f"커밋 {key['commit']}" if key["commit"] else "git 밖의 소스"
        text = (
            f"이 사이트의 노트북은 <strong>{html.escape(k['profile'])}</strong> 프로파일로, "
            f"{html.escape(data_words(k['data'], 'ko'))}(데이터를 읽는 장)를 읽고, "
            f"{html.escape(backend_words(key, 'ko'))}와 {html.escape(k['device'])}에서, "
            f"{html.escape(key['package_name'])} {html.escape(commit)}(소스 {k['package'][:12]})로 실행되었다. "
            f"영어판과 같은 실행이다. 빌드 키 {key['digest']}."
        )
        return f'<p class="build-key">{text}</p>'
    commit = f"commit {key['commit']}" if key["commit"] else "a source outside git"
    text = (
        f"The notebooks of this site ran with the <strong>{html.escape(k['profile'])}</strong> profile, "
        f"on {html.escape(data_words(k['data']))} (the chapters that read data), "
        f"on {html.escape(backend_words(key))} and {html.escape(k['device'])}, "
        f"with {html.escape(key['package_name'])} at {html.escape(commit)} "
        f"(source {k['package'][:12]}); build key {key['digest']}."
    )
    return f'<p class="build-key">{text}</p>'


# --- the caches ----------------------------------------------------------------------------------------------------


def read_state(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    tmp.replace(path)


def cache_path(book: Path, config: dict) -> Path:
    """Where myst-nb keeps jupyter-cache's folder: execute.cache, else _build/.jupyter_cache beside _build/html."""
    configured = (config.get("execute") or {}).get("cache") or ""
    if configured:
        return (book / configured).resolve()  # the build runs in the book folder
    return book / "_build" / ".jupyter_cache"


def switch_cache(cache: Path, old: dict | None, new: dict) -> str:
    """Set the cache of the old key aside and bring back the new key's, if kept. Returns what was done."""
    kept = cache.parent / (cache.name + "-by-key")
    done = []
    if cache.exists():
        if old and old.get("digest"):
            target = kept / old["digest"]
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            cache.rename(target)
            (target / "build-key.json").write_text(json.dumps(old, indent=1, sort_keys=True))
            done.append(f"the cached notebooks of key {old['digest']} set aside")
        else:
            shutil.rmtree(cache)
            done.append("cached notebooks of unknown provenance (no build key recorded) deleted")
    restore = kept / new["digest"]
    if restore.exists():
        (restore / "build-key.json").unlink(missing_ok=True)
        restore.rename(cache)
        done.append(f"the cached notebooks of key {new['digest']} (an earlier build with the same key) brought back")
    if kept.exists():
        by_age = sorted(kept.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in by_age[KEPT_CACHES:]:
            shutil.rmtree(stale, ignore_errors=True)
    return "; ".join(done) or "no cached notebooks yet"


def cache_records(cache: Path) -> dict[int, tuple[str, float]]:
    """jupyter-cache's records: primary key -> (notebook, time cached)."""
    if not (cache / "global.db").exists():
        return {}
    from jupyter_cache import get_cache

    return {r.pk: (r.uri, r.created.timestamp()) for r in get_cache(str(cache)).list_cache_records()}


# --- the build -----------------------------------------------------------------------------------------------------


def jupyter_book() -> str:
    beside = Path(sys.executable).parent / "jupyter-book"
    return str(beside) if beside.exists() else (shutil.which("jupyter-book") or "jupyter-book")


def build_config(
    folder: Path, config: dict, key: dict, path: Path, language: str = "en", cache: Path | None = None
) -> Path:
    """A _config.yml (of the edition in `folder`) with the key in every page's footer (sphinx-book-theme's
    extra_footer), written to `path`; `cache`: the execution cache to use instead of the edition's own."""
    config = json.loads(json.dumps(config))  # a deep copy
    sphinx = config.setdefault("sphinx", {}) or {}
    config["sphinx"] = sphinx
    sphinx_config = sphinx.setdefault("config", {}) or {}
    sphinx["config"] = sphinx_config
    theme_options = sphinx_config.setdefault("html_theme_options", {}) or {}
    sphinx_config["html_theme_options"] = theme_options
    theme_options["extra_footer"] = theme_options.get("extra_footer", "") + footer(key, language)  # after the licences
    # Jupyter Book finds local extensions relative to the config file, which is written elsewhere: make them absolute.
    extensions = sphinx.get("local_extensions") or {}
    for name, where in extensions.items():
        extensions[name] = str((folder / where).resolve())
    if cache is not None:
        config.setdefault("execute", {})["cache"] = str(cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by tools/build_book.py from _config.yml, with the build key in the footer. Not a source.\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    )
    return path


def serve_executed_notebooks(folder: Path, site: Path, cache: Path) -> int:
    """The page's download button offers the notebook the site copied to _sources/, which is the source, stored
    without outputs: replace each with the source merged with the outputs jupyter-cache holds for its code, so that a
    download shows the numbers and figures of the page. (myst-nb's own copy in jupyter_execute/ has them only where
    the page executed in this build, not where it was served from the cache.) Returns how many."""
    import nbformat
    from jupyter_cache import get_cache

    store = get_cache(str(cache))
    count = 0
    for served in (site / "_sources").rglob("*.ipynb"):
        source = folder / served.relative_to(site / "_sources")
        try:
            _, executed = store.merge_match_into_notebook(nbformat.read(source, 4))
        except (OSError, KeyError):  # no such source, or no execution of its code in the cache
            continue
        nbformat.write(executed, served)
        count += 1
    return count


def twin_problems(book: Path) -> list[str]:
    """tools/editions.py's check of the Korean twins (none where the book has no Korean edition)."""
    if not (book / KOREAN / "_config.yml").is_file():
        return []
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import editions

    return editions.check(book)


def build_korean(book: Path, key: dict, options: list[str], environment: dict, cache: Path) -> int:
    """The Korean edition from the English build's execution cache into _build/html/ko/; an exit status. A twin that
    executes (its code is not the English chapter's) fails the build: the Korean site runs nothing of its own."""
    folder = book / KOREAN
    if not (folder / "_config.yml").is_file():
        return 0
    config = yaml.safe_load((folder / "_config.yml").read_text()) or {}
    output = book / "_build" / KOREAN
    written = build_config(folder, config, key, book / "_build" / f".build-config-{KOREAN}.yml", "ko", cache)
    records = cache_records(cache)
    command = [jupyter_book(), "build", str(folder), "--path-output", str(output), "--config", str(written), *options]
    log("the Korean edition: running " + " ".join(command[1:]))
    started = time.time()
    result = subprocess.run(command, cwd=folder, env=environment)
    executed = sorted(set(cache_records(cache)) - set(records))
    if executed:
        log(
            f"error: the Korean build executed {len(executed)} notebook(s) that the English build had not: "
            "a twin's code is not its English chapter's (python tools/editions.py check)."
        )
        return 1
    if result.returncode != 0:
        log(f"the Korean build failed (exit status {result.returncode}).")
        return result.returncode
    served = serve_executed_notebooks(folder, output / "_build" / "html", cache)
    site = book / "_build" / "html" / KOREAN
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(output / "_build" / "html", site)
    log(
        f"the Korean edition built in {time.time() - started:.0f} s from the English execution (nothing executed) "
        f"into {site.relative_to(book)}; its download button serves {served} executed notebook(s)."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    options = DEFAULT_BUILD_OPTIONS
    if "--" in argv:
        argv, options = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("book", nargs="?", default=str(REPO_ROOT), help="the book's folder (default: this repository)")
    parser.add_argument(
        "--package",
        default=str(DEFAULT_PACKAGE),
        help="the package's source folder, hashed into the key (default: src/alexnet_book)",
    )
    args = parser.parse_args(argv)
    book = Path(args.book).resolve()
    package = Path(args.package).resolve()
    if not (book / "_config.yml").is_file():
        parser.error(f"no _config.yml in {book}")
    if not package.is_dir():
        parser.error(f"no package source folder {package}")
    import_book_package()
    from alexnet_book.hardware import stop_if_gpu_unused

    stop_if_gpu_unused()  # an NVIDIA GPU the Keras backend cannot use stops the build before anything executes

    environment = dict(os.environ)  # for the build, before resolve_profile quiets TensorFlow here
    try:
        key = compute_key(package, book)
    except ValueError as error:  # an ALEXNET_BOOK_PROFILE that is not a profile, a CIFAR-10 folder without data
        log(f"error: {error}")
        return 2
    problems = twin_problems(book)
    if problems:  # before anything executes: the Korean edition would otherwise run code of its own
        for problem in problems:
            log(f"error: {problem}")
        log("the Korean twins must share their English chapters' code cells: run python tools/editions.py sync.")
        return 2
    config = yaml.safe_load((book / "_config.yml").read_text()) or {}
    state_file = book / "_build" / STATE_NAME
    state = read_state(state_file)
    cache = cache_path(book, config)
    log(f"build key {key['digest']}: {describe(key)}")

    build_options = list(options)
    cached = state.get("cache")  # the key the execution cache holds results for
    if not cached or cached.get("digest") != key["digest"]:
        changes = differences(cached, key)
        if changes:
            log("changed since the cached notebooks ran: " + "; ".join(changes) + ".")
            log(
                "every page is re-read, and every notebook re-executes unless an earlier build with this key kept "
                "its results: no result cached under another key is served."
            )
        elif cache.exists():
            log("no build key recorded for the cached notebooks: every notebook re-executes.")
        log(switch_cache(cache, cached, key) + ".")
        state = {"cache": key, "site": None}
        write_state(state_file, state)  # before the build: what it caches belongs to this key, even if it fails
    built = state.get("site")
    if not built or built.get("digest") != key["digest"]:
        if "--all" not in build_options:
            build_options.append("--all")
        if built is None and cached and cached.get("digest") == key["digest"]:
            log("the last build with this key did not finish: every page is re-read (cached notebooks are reused).")
    else:
        log(
            "nothing changed since the last build: only pages whose sources changed are re-read, "
            "and a notebook re-executes only where its code changed."
        )
    state["cache"] = key  # commit and per-file hashes as of now (the key itself is the same)

    records = cache_records(cache)
    written = build_config(book, config, key, book / "_build" / CONFIG_NAME)
    command = [jupyter_book(), "build", ".", "--config", str(written), *build_options]
    log("running " + " ".join(command[1:]))
    started = time.time()
    result = subprocess.run(command, cwd=book, env=environment)
    seconds = time.time() - started
    after = cache_records(cache)
    executed = sorted(uri for pk, (uri, created) in after.items() if pk not in records or created > records[pk][1])
    log(
        f"executed {len(executed)} notebook(s) in this build"
        + (": " + ", ".join(os.path.relpath(uri, book) for uri in executed) if executed else "")
        + f"; build took {seconds:.0f} s."
    )
    if result.returncode != 0:
        write_state(state_file, {**state, "site": None})
        log(f"the build failed (exit status {result.returncode}); the build key is not stored.")
        return result.returncode
    served = serve_executed_notebooks(book, book / "_build" / "html", cache)
    log(f"the download button serves the executed notebook of {served} page(s).")
    korean = build_korean(book, key, build_options, environment, cache)
    if korean != 0:
        write_state(state_file, {**state, "site": None})
        return korean
    state["site"] = {**key, "built": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_state(state_file, state)
    log(f"build key {key['digest']} stored in {state_file.relative_to(book)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
