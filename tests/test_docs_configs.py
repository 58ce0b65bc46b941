"""Docs build without warnings; the embedded quickstart equals configs/quickstart.yaml."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from torchgan_ext.cli import embedded_quickstart

ROOT = Path(__file__).resolve().parents[1]


def test_embedded_quickstart_is_the_shipped_config():
    shipped = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    assert shipped == embedded_quickstart()


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(ROOT / "docs"),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "html" / "index.html").is_file()
