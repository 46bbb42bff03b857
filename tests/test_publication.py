"""What a published open-source book carries: licences named where readers look, a citation file that agrees
with the project's settings, and Colab told to give the training chapters a GPU."""

import json
import re

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
