import pytest

from stepdeploy.app_config.target_config import parse_config
from stepdeploy.errors import ConfigurationError, RequestRejected
from stepdeploy.ingress.upload_keys import check_upload_key
from stepdeploy.settings import parse_allowed_repositories

pytestmark = pytest.mark.unit

GOOD = """
version: 1
targets:
  - branch: main
    stack: orders-prod
    deployment: {strategy: LambdaCanary10Percent5Minutes, alarms: [ErrorsAlarm], bake_minutes: 5}
  - branch: "feature/*"
    stack: orders-dev
    concurrency: queued
"""


def test_good_config_and_branch_matching():
    config = parse_config(GOOD)
    assert config.target_for("main").stack == "orders-prod"
    assert config.target_for("main").deployment.deployment_config_name == (
        "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    )
    assert config.target_for("feature/x").concurrency == "queued"
    assert config.target_for("release") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\ntargets: [{branch: main, stack: ok, deployment: {strategy: Canary99}}]",
         "targets[0].deployment.strategy: expected one of LambdaAllAtOnce"),
        ("version: 2\ntargets: [{branch: main, stack: ok}]", "version: expected 1; got 2"),
        ("version: 1\ntargets: [{branch: main, stak: ok}]", "targets[0].stak: is not a known key"),
        ("version: 1\ntargets: [{branch: main}]", "targets[0].stack: is required"),
        ("version: 1\ntargets: [{branch: main, stack: '1bad'}]", "targets[0].stack: expected a CloudFormation"),
        ("targets: [", "not valid YAML at line"),
        ("- a list", "expected a mapping"),
        ("version: 1\ntargets: [{branch: main, stack: ok, deployment: {alarms: [a,b,c,d,e,f,g,h,i,j,k]}}]",
         "targets[0].deployment.alarms"),
    ],
)
def test_bad_config_names_file_key_and_expectation(text, expected):
    with pytest.raises(ConfigurationError) as error:
        parse_config(text, file="stepdeploy.yml")
    assert str(error.value).startswith("stepdeploy.yml: ")
    assert expected in str(error.value)


def test_custom_strategy_name():
    config = parse_config(
        "version: 1\ntargets: [{branch: main, stack: ok, deployment: "
        "{strategy: {type: linear, percent: 20, interval_minutes: 2}}}]"
    )
    assert config.targets[0].deployment.deployment_config_name == "StepdeployLinear20PercentEvery2Minutes"


def test_allow_list():
    rules = parse_allowed_repositories("acme/orders:orders-*, acme/web:web-*:adopt")
    assert rules[0].allows("acme/orders", "orders-prod") and not rules[0].adopt
    assert not rules[0].allows("acme/orders", "web-prod")
    assert rules[1].allows("ACME/web", "web-prod") and rules[1].adopt
    with pytest.raises(ValueError, match="owner/repo"):
        parse_allowed_repositories("just-a-name")


def test_allow_list_privileged_builds_only_for_entries_that_opt_in():
    rules = parse_allowed_repositories("acme/img:img-*:privileged,acme/web:web-*:adopt:privileged,acme/api:api-*")
    assert [(r.adopt, r.privileged) for r in rules] == [(False, True), (True, True), (False, False)]


@pytest.mark.parametrize(
    "entry",
    ["acme/web", "acme/web:", "acme/orders:orders-*,acme/web", "acme/web:web-*:own", "acme/web:web-*:adopt:adopt",
     "acme/web:web-*:privileged:root"],
)
def test_allow_list_entries_name_their_stacks(entry):
    with pytest.raises(ValueError) as error:
        parse_allowed_repositories(entry)
    bad = entry.rsplit(",", 1)[-1]
    assert repr(bad) in str(error.value) and "owner/repo:stack-pattern" in str(error.value)


@pytest.mark.parametrize(
    "key",
    ["uploads/../etc/x.zip", "uploads/a/b/../c.zip", "uploads/a/%2e%2e/c.zip", "other/a/b/c.zip",
     "uploads/a/b.zip", "uploads/a/b/c.tar", "uploads//b/c.zip", "uploads/a/b\\c/d.zip"],
)
def test_upload_keys_that_escape_are_refused(key):
    with pytest.raises(RequestRejected):
        check_upload_key(key, "uploads/")


def test_upload_key_parts():
    assert check_upload_key("uploads/acme/orders/build-7.zip", "uploads/") == (
        "acme", "orders", "uploads/acme/orders/build-7.zip"
    )
