"""Every file that deploys or packages the shipped model names the same version.

The shipped model's folder is spelled in the package, the wheel's build files, the Makefile,
the Dockerfiles and the Kubernetes manifests. A new version changes all of them; this test
fails on the one a bump missed, naming the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path

from stylex.runtime.model_dir import SHIPPED_MODEL

REPO = Path(__file__).resolve().parents[1]
# Files read by machines (builds, containers, clusters, the CLI's help): prose that quotes
# older versions on purpose (model cards, experiment logs) is not among them.
DEPLOYING = [
    "setup.py",
    "MANIFEST.in",
    "Makefile",
    "src/stylex/commands/demo.py",
    *(str(p.relative_to(REPO)) for p in sorted((REPO / "docker").glob("Dockerfile*"))),
    *(str(p.relative_to(REPO)) for p in sorted((REPO / "k8s").rglob("*.yaml"))),
]
NAME = SHIPPED_MODEL.parent.name
# NAME/6 in paths, "NAME" / "6" in Python
MODEL_PATH = re.compile(re.escape(NAME) + r"[/\"', ]+(\d+)\b")


def _versions(text: str) -> list[tuple[int, str]]:
    """(line number, version) of every NAME/N the text names."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        out += [(number, m.group(1)) for m in MODEL_PATH.finditer(line)]
    return out


def test_the_shipped_folder_exists_with_a_manifest():
    assert (REPO / SHIPPED_MODEL / "manifest.json").is_file(), SHIPPED_MODEL


def test_every_deploying_file_names_the_shipped_version():
    shipped = SHIPPED_MODEL.name
    named = 0
    wrong = []
    for name in DEPLOYING:
        for number, version in _versions((REPO / name).read_text()):
            named += 1
            if version != shipped:
                wrong.append(f"{name}:{number} names {NAME}/{version}")
    assert not wrong, f"the shipped model is {NAME}/{shipped}, but " + "; ".join(wrong)
    assert named >= 15  # the files above do name it; a pattern that matches nothing fails


def test_the_version_pattern_finds_each_spelling():
    text = f'a/{NAME}/7/b\nPath("model_store") / "{NAME}" / "8"\ngraft model_store/{NAME}/9'
    assert _versions(text) == [(1, "7"), (2, "8"), (3, "9")]
