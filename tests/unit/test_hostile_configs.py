"""The validator on every file of the hostile catalogue: pure, no AWS, no GHE.

Each file is refused with a ConfigurationError that names the file and the key; none raises
anything else (a parser limit is a configuration error too). Files marked valid (refused for who
pushes them or where they go) pass the validator; their refusal is tested on the local cloud.
"""

from __future__ import annotations

import pytest

from stepdeploy.errors import ConfigurationError
from stepdeploy.guards.target_checks import validate
from stepdeploy.template import cfn_yaml
from stepdeploy_cli.demo.runner import SAMPLE_APP

from ..hostile_catalogue import load

pytestmark = pytest.mark.unit
CASES = load()
TEMPLATE = cfn_yaml.load((SAMPLE_APP / "template.yaml").read_bytes())


def test_the_catalogue_is_large_and_every_file_has_an_expectation():
    assert len(CASES) >= 40
    assert all(c.key and c.state in ("Resolve request", "Package artifact") for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_validator_refuses_naming_file_and_key(case):
    def check():
        return validate(case.text, TEMPLATE, branch="main", existing_alarms=set())

    if case.valid:
        assert check().target_for("main") is not None
        return
    with pytest.raises(ConfigurationError) as error:
        check()
    message = str(error.value)
    assert message.startswith("stepdeploy.yml: "), message
    assert case.key in message, message
