from pathlib import Path

import pytest

from stepdeploy_dev.bench import suite

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_the_pytest_command_is_read_from_the_makefiles_test_target(tmp_path):
    makefile = tmp_path / "Makefile"
    makefile.write_text("lint: setup\n\t$(BIN)/ruff check .\n\ntest: setup\n\tmkdir -p build\n"
                        "\t$(BIN)/pytest -q -p no:cacheprovider -n 2\n\ndemo: setup\n\t$(BIN)/pytest -k demo\n")
    assert suite.pytest_command(makefile, Path("/venv/bin")) == [
        "/venv/bin/pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
    ]


def test_the_projects_makefile_has_a_pytest_command():
    command = suite.pytest_command(ROOT / "Makefile", Path("/venv/bin"))
    assert command[0] == "/venv/bin/pytest"


def test_a_test_target_without_pytest_is_an_error_naming_the_makefile(tmp_path):
    makefile = tmp_path / "Makefile"
    makefile.write_text("test:\n\techo nothing\n")
    with pytest.raises(RuntimeError, match="Makefile: the test target has no pytest command"):
        suite.pytest_command(makefile, Path("/venv/bin"))


def test_the_summary_line_keeps_the_counts():
    output = "....x.. [100%]\n\n440 passed, 3 xfailed in 118.25s (0:01:58)\n"
    assert suite.summary_line(output) == "440 passed, 3 xfailed"
    assert suite.summary_line("=== 2 failed, 5 passed in 1.2s ===") == "2 failed, 5 passed"
    assert suite.summary_line("ImportError: boom") is None
