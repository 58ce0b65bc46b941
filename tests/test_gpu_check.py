"""``benchmarks/gpu_check.py``: its non-CUDA parts run on the CPU (``--dry-run``)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_dry_run_writes_every_section_into_one_json(tmp_path):
    out = tmp_path / "check.json"
    report = _module().main(["--dry-run", "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report, default=str))
    sections = report["sections"]
    assert "tests" not in sections  # CUDA tests only on a GPU
    assert not any("error" in s for s in sections.values()), sections
    rows = sections["families"]["rows"]
    assert [r["mode"] for r in rows] == ["fp32", "bf16+cl"] and rows[0]["images_per_s"] > 0
    rates = sections["decode"]["images_per_s"]
    assert rates["cached, 0 workers"] > 0 and rates["cache build us/image"] > 0
    assert "cpu decode (data.decode: cuda), 0 workers" in rates  # same code path, on the CPU
    assert sections["starved"]["cache / synthetic"] > 0
    assert "needs 2" in sections["ddp"]["skipped"]


def test_budget_skips_later_sections(tmp_path):
    report = _module().main(
        [
            "--dry-run",
            "--sections",
            "ddp",
            "decode",
            "--budget",
            "0",
            "--json",
            str(tmp_path / "c.json"),
        ]
    )
    assert report["sections"]["decode"]["skipped"].startswith("over the budget")
