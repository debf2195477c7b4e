"""The package picture in the README's Development section names every package of nnunetv2_cta."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _picture() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Development\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\n(nnunetv2_cta/\n.*?)```", section, flags=re.S)
    assert len(blocks) == 1, (
        "the Development section must hold one package picture starting with 'nnunetv2_cta/'"
    )
    return blocks[0]


def test_every_package_is_in_the_picture():
    picture = _picture()
    listed = set(re.findall(r"^\s+([a-z_]+)/\s", picture, flags=re.M))
    packages = {
        p.parent.name for p in (ROOT / "nnunetv2_cta").rglob("__init__.py") if p.parent.name != "nnunetv2_cta"
    }
    assert packages - listed == set(), (
        f"packages missing from the README picture: {sorted(packages - listed)}"
    )
    assert listed - packages == set(), (
        f"README picture lists folders that are not packages: {sorted(listed - packages)}"
    )
