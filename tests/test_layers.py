"""The folders are the pipeline: data -> models -> training -> evaluation -> reports, with the API,
pipeline, sweeps, CLI and server on top. Nothing imports a module higher than itself (lazy imports inside functions
count too); the low modules (run_config, runs, files, errors) import no layer at all."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "letterlab"
ORDER = ["data", "models", "training", "evaluation", "reports", "top"]
TOP = {"api", "pipeline", "sweeps", "cli", "serving", "__main__"}


def layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "letterlab" or len(parts) == 1:
        return None
    return parts[1] if parts[1] in ORDER else "top" if parts[1] in TOP else "low"


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def upward_imports(package: Path) -> list[str]:
    upward = []
    for path in package.rglob("*.py"):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        mine = layer(module)
        for name in imports(path):
            theirs = layer(name)
            if mine is None or theirs is None or theirs == "low":
                continue
            if mine == "low" or ORDER.index(theirs) > ORDER.index(mine):
                upward.append(f"{module} imports {name}")
    return upward


def test_no_module_imports_a_higher_layer():
    assert upward_imports(PACKAGE) == []


def test_an_upward_import_is_found(tmp_path):
    (tmp_path / "letterlab" / "data").mkdir(parents=True)
    (tmp_path / "letterlab" / "data" / "leak.py").write_text("def f():\n    from letterlab.training.loop import fit\n")
    (tmp_path / "letterlab" / "runs.py").write_text("import letterlab.models.build\n")
    assert sorted(upward_imports(tmp_path / "letterlab")) == ["letterlab.data.leak imports letterlab.training.loop",
                                                               "letterlab.runs imports letterlab.models.build"]
