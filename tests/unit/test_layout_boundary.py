"""Who may import whom (docs/layout.md), checked by import-linter with the contracts in pyproject.toml.

`make test` and `make lint` run `lint-imports` themselves; these tests keep the contracts honest: they hold
on the tree, they name every forbidden root and package, and a planted violation in a copy of the tree breaks
them. The Lambda entry points under functions/ are not a package; they are checked here directly.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
RUNTIME_MUST_NOT_IMPORT = {
    "stepdeploy_cli", "stepdeploy_localcloud", "stepdeploy_dev",
    "moto", "rich", "typer", "samtranslator", "cfnlint", "requests", "werkzeug",
}
LOCALCLOUD_MUST_NOT_IMPORT = {"stepdeploy", "stepdeploy_cli", "stepdeploy_dev"}
ROOTS = ("stepdeploy", "stepdeploy_cli", "stepdeploy_localcloud", "stepdeploy_dev")


def lint_imports(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd, env=dict(os.environ, **env), capture_output=True, text=True, check=False, timeout=120,
    )


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert set(config["root_packages"]) == set(ROOTS)
    assert config["include_external_packages"] is True  # else third-party packages cannot be forbidden
    return {contract["id"]: contract for contract in config["contracts"]}


def test_the_contracts_forbid_what_the_layout_forbids() -> None:
    found = contracts()
    assert found["runtime"]["type"] == "forbidden"
    assert found["runtime"]["source_modules"] == ["stepdeploy"]
    assert set(found["runtime"]["forbidden_modules"]) >= RUNTIME_MUST_NOT_IMPORT
    assert not found["runtime"].get("ignore_imports")
    assert found["localcloud"]["type"] == "forbidden"
    assert found["localcloud"]["source_modules"] == ["stepdeploy_localcloud"]
    assert set(found["localcloud"]["forbidden_modules"]) >= LOCALCLOUD_MUST_NOT_IMPORT
    assert not found["localcloud"].get("ignore_imports")
    assert found["cli"]["forbidden_modules"] == ["stepdeploy_dev"]


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_planted_violation_breaks_the_contracts(tmp_path: Path) -> None:
    for root in ROOTS:
        shutil.copytree(ROOT / root, tmp_path / root, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "stepdeploy" / "boundary_probe.py").write_text("import moto\nimport stepdeploy_cli.main\n")
    (tmp_path / "stepdeploy_localcloud" / "boundary_probe.py").write_text("from stepdeploy import errors\n")

    result = lint_imports(tmp_path, PYTHONPATH=str(tmp_path))  # the copy shadows the editable install

    assert result.returncode != 0, result.stdout
    assert "2 broken" in result.stdout, result.stdout
    for planted in ("stepdeploy.boundary_probe -> moto", "stepdeploy.boundary_probe -> stepdeploy_cli.main",
                    "stepdeploy_localcloud.boundary_probe -> stepdeploy.errors"):
        assert planted in result.stdout, result.stdout


@pytest.mark.parametrize("entry", sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py")))
def test_a_lambda_entry_point_imports_the_runtime_only(entry: str) -> None:
    """functions/<name>/app.py ships with the layer alone: it may import stepdeploy and the standard library."""
    tree = ast.parse((ROOT / "functions" / entry / "app.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    tops = {name.split(".")[0] for name in imported}
    outside = sorted(top for top in tops if top != "stepdeploy" and top not in sys.stdlib_module_names)
    assert not outside, f"functions/{entry}/app.py imports {outside}"


def task_state_functions() -> dict[str, str]:
    """Task state name -> the functions/<name>/ folder of the Lambda function it invokes."""
    from stepdeploy.template import cfn_yaml

    template = cfn_yaml.load((ROOT / "template.yaml").read_text())
    resources = template["Resources"]
    machine = next(r for r in resources.values() if r["Type"] == "AWS::Serverless::StateMachine")
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    definition = json.loads((ROOT / machine["Properties"]["DefinitionUri"]).read_text())
    found: dict[str, str] = {}

    def visit(states: dict[str, Any]) -> None:
        for name, state in states.items():
            for branch in state.get("Branches", []):
                visit(branch["States"])
            for key in ("Iterator", "ItemProcessor"):
                if key in state:
                    visit(state[key]["States"])
            function = state.get("Arguments", state.get("Parameters", {})).get("FunctionName", "")
            if state["Type"] == "Task" and function.startswith("${"):
                logical_id = substitutions[function[2:-1]]["Fn::GetAtt"][0]
                found[name] = Path(resources[logical_id]["Properties"]["CodeUri"]).name

    visit(definition["States"])
    return found


def test_every_task_state_has_one_name_from_function_folder_to_handler_test() -> None:
    """A Lambda Task state's function folder, its runtime module and its handler test share one name."""
    states = task_state_functions()
    assert len(states) >= 20, states  # the walk found the state machine's tasks
    for state, folder in states.items():
        module = ROOT / "stepdeploy" / "tasks" / f"{folder}.py"
        assert module.is_file(), f"{state!r} runs functions/{folder}/ but stepdeploy/tasks/{folder}.py is missing"
        entry = (ROOT / "functions" / folder / "app.py").read_text()
        assert f"from stepdeploy.tasks.{folder} import" in entry, f"functions/{folder}/app.py runs another module"
        test = ROOT / "tests" / "handlers" / f"test_{folder}.py"
        assert test.is_file(), f"{state!r}: no handler test tests/handlers/test_{folder}.py"


@pytest.mark.parametrize("entry", sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py")))
def test_every_function_has_a_handler_test_of_its_name(entry: str) -> None:
    assert (ROOT / "tests" / "handlers" / f"test_{entry}.py").is_file()


RUNTIME_TOP_LEVEL = {"__init__", "models", "settings", "errors", "observability", "polling"}


def test_the_runtime_keeps_its_modules_in_rooms() -> None:
    """The runtime's top level holds what every room uses; anything else lives in a room (docs/layout.md)."""
    top = {p.stem for p in (ROOT / "stepdeploy").glob("*.py")}
    assert top == RUNTIME_TOP_LEVEL, f"put {sorted(top - RUNTIME_TOP_LEVEL)} in a room of stepdeploy/"
    for room in (p for p in (ROOT / "stepdeploy").iterdir() if p.is_dir() and p.name != "__pycache__"):
        init = room / "__init__.py"
        assert init.is_file() and ast.get_docstring(ast.parse(init.read_text())), f"{room.name}/ says what it holds"
