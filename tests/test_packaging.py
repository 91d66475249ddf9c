"""The installed package asks for torch as a range, so it installs beside a user's own torch; the
exact CPU pin lives in constraints.txt, used by the set-up commands only."""

import re
from importlib.metadata import metadata, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_installed_metadata_has_no_exact_torch_pin():
    torch = [r for r in requires("letterlab") if re.match(r"torch\b", r) and "extra ==" not in r]
    assert torch, requires("letterlab")
    assert all("==" not in r and "<" not in r for r in torch), torch
    assert not any(re.match(r"torchvision\b", r) for r in requires("letterlab"))


def test_python_versions_3_11_to_3_13_are_allowed():
    spec = metadata("letterlab")["Requires-Python"]
    assert spec == ">=3.11", spec


def test_setup_commands_pin_the_cpu_build_through_constraints():
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().split()
    for path in (ROOT / "README.md", ROOT / ".ci" / "run"):
        assert "-c constraints.txt" in path.read_text(), path
