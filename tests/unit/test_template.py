"""template.yaml against the code it deploys: names, permissions and the secret's shape."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from cfnlint.decode.cfn_yaml import loads as load_template

import lambda_function

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = load_template((REPO / "template.yaml").read_text(encoding="utf-8"))
RESOURCES = TEMPLATE["Resources"]
FUNCTION = RESOURCES["SkillFunction"]["Properties"]
SOURCE = (REPO / "lambda_function.py").read_text(encoding="utf-8")


def test_every_variable_the_template_sets_is_read_by_the_code():
    for name in FUNCTION["Environment"]["Variables"]:
        assert re.search(rf'"{name}"', SOURCE), f"{name} is set but never read"


def test_the_function_may_make_exactly_the_dynamodb_calls_the_code_makes():
    calls = set(re.findall(r'self\._request\(\s*"(\w+)"', SOURCE))
    wanted = {"dynamodb:" + "".join(part.title() for part in call.split("_")) for call in calls}
    granted = {
        action
        for policy in FUNCTION["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
        for action in statement["Action"]
        if action.startswith("dynamodb:")
    }
    assert wanted and granted == wanted


def test_no_managed_full_access_policy():
    assert "FullAccess" not in json.dumps(FUNCTION["Policies"], default=str)


def test_the_secret_the_stack_creates_is_json_the_code_reads():
    text, variables = RESOURCES["CredentialsSecret"]["Properties"]["SecretString"]["Fn::Sub"]
    # ClientId and Password are the parameters with "-" read as empty (test_deploy.py checks it).
    assert set(variables) == {"ClientId", "Password"}
    values = {"ClientId": "id-1", "SpotifyClientSecret": "secret-2", "Password": "p@ss"}
    rendered = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)
    secret = json.loads(rendered)
    assert set(secret) <= set(lambda_function.SECRET_NAMES)
    assert secret["SPOTIFY_CLIENT_SECRET"] == "secret-2"


@pytest.mark.parametrize("password", ['with"quote', "back\\slash"])
def test_the_mysql_password_pattern_rejects_what_would_break_the_secrets_json(password):
    pattern = TEMPLATE["Parameters"]["MySQLPassword"]["AllowedPattern"]
    assert re.fullmatch(pattern, "ordinary-P@ssw0rd!")
    assert not re.fullmatch(pattern, password)


def test_credentials_are_never_echoed_or_set_as_plain_variables():
    for name in ("SpotifyClientSecret", "MySQLPassword"):
        assert TEMPLATE["Parameters"][name]["NoEcho"] is True
    variables = FUNCTION["Environment"]["Variables"]
    # Declared for `sam local invoke` only (it passes nothing undeclared): a literal "", which
    # no parameter can fill, so a deployed function always takes them from its secret.
    declared = set(variables) & set(lambda_function.SECRET_NAMES)
    assert declared == {"SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"}
    assert all(variables[name] == "" for name in declared)


def test_the_cache_table_keeps_its_data_and_expires_entries():
    table = RESOURCES["CacheTable"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    assert '"expires_at"' in SOURCE


# ---- networking, API Gateway, operations: the template's shape (test_deploy.py runs it)

OPTIONAL_TEXT = (
    "SpotifyClientId",
    "SpotifyClientSecret",
    "SecretArn",
    "SecretParameterName",
    "ReservedConcurrency",
    "MySQLHost",
    "MySQLPassword",
    "MySQLSslCa",
    "AlarmEmail",
)


@pytest.mark.parametrize("name", OPTIONAL_TEXT)
def test_every_optional_parameter_accepts_a_dash_and_empty(name):
    spec = TEMPLATE["Parameters"][name]
    assert spec["Default"] == ""
    pattern = spec.get("AllowedPattern")
    if pattern is not None:
        assert re.fullmatch(pattern, "-") and re.fullmatch(pattern, "")
    assert '"-"' in spec["Description"]


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("SecretArn", "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:s-AbCdEf", "s"),
        ("SecretParameterName", "/kakao/music", "kakao/music"),
        ("ReservedConcurrency", "10", "0"),
        ("MySQLSslCa", "global-bundle.pem", "a b.pem"),
        ("AlarmEmail", "ops@example.com", "ops"),
    ],
)
def test_the_patterns_still_refuse_what_cannot_work(name, good, bad):
    pattern = TEMPLATE["Parameters"][name]["AllowedPattern"]
    assert re.fullmatch(pattern, good)
    assert not re.fullmatch(pattern, bad)


RULE_FUNCTIONS = {"Fn::And", "Fn::Or", "Fn::Not", "Fn::Equals", "Fn::Contains"} | {
    "Fn::EachMemberEquals",
    "Fn::EachMemberIn",
    "Fn::RefAll",
    "Fn::ValueOf",
    "Fn::ValueOfAll",
    "Ref",
}


def functions_in(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("Fn::") or key == "Ref":
                yield key
            yield from functions_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from functions_in(item)


def test_subnets_and_security_groups_are_asserted_together():
    rules = TEMPLATE["Rules"]
    assert set(rules) == {"SubnetsNeedSecurityGroups", "SecurityGroupsNeedSubnets"}
    for name, rule in rules.items():
        (assertion,) = rule["Assertions"]
        assert "RuleCondition" not in rule  # always checked
        # Rules allow only these (no Fn::Join, unlike Conditions): cfn-lint does not check
        # what is nested inside them, CloudFormation does at deploy time.
        assert set(functions_in(assertion["Assert"])) <= RULE_FUNCTIONS, name
        refs = {node["Ref"] for node in _dicts(assertion["Assert"]) if "Ref" in node}
        assert refs == {"SubnetIds", "SecurityGroupIds"}
        given, missing = ("SubnetIds", "SecurityGroupIds")
        if name == "SecurityGroupsNeedSubnets":
            given, missing = missing, given
        assert assertion["AssertDescription"].startswith(f"{given} is set but {missing} is empty")


def _dicts(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _dicts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _dicts(item)


def api_definition_hash() -> str:
    definition = [RESOURCES["SkillResource"], RESOURCES["SkillMethod"]]
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:8].upper()


def test_a_changed_method_gets_new_deployments():
    """CloudFormation redeploys an API only when the Deployment resource is new: its logical id
    carries a hash of the method, so an edit that forgets to rename it fails here."""
    suffix = api_definition_hash()
    deployments = {
        name: body
        for name, body in RESOURCES.items()
        if body["Type"] == "AWS::ApiGateway::Deployment"
    }
    assert set(deployments) == {
        f"SkillDeploymentWithKey{suffix}",
        f"SkillDeploymentOpen{suffix}",
    }, f"SkillMethod or SkillResource changed: rename the two deployments to end with {suffix}"
    assert {body["Condition"] for body in deployments.values()} == {"UseApiKey", "OpenApi"}
    assert TEMPLATE["Conditions"]["OpenApi"] == {"Fn::Not": [{"Condition": "UseApiKey"}]}
    for body in deployments.values():
        assert body["DependsOn"] == "SkillMethod"  # a snapshot of the method as updated


def test_the_alarms_watch_the_metrics_the_code_and_services_emit():
    alarms = {
        body["Properties"]["MetricName"]: body["Properties"]
        for body in RESOURCES.values()
        if body["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert set(alarms) == {"Errors", "Throttles", "AnswerTime", "5XXError"}
    answer = alarms["AnswerTime"]
    # The function's Embedded Metric Format block: same namespace, name, dimension and value.
    assert (
        f'"{answer["Namespace"]}"' in SOURCE
        and '"AnswerTime": (elapsed_ms, "Milliseconds")' in SOURCE
    )
    assert answer["Dimensions"] == [{"Name": "service", "Value": lambda_function.SERVICE_NAME}]
    assert 'Dimensions": [["service"]]' in SOURCE
    assert answer["ExtendedStatistic"] == "p99" and answer["Threshold"] == 4500
    assert alarms["5XXError"]["Namespace"] == "AWS/ApiGateway"
    for props in alarms.values():
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["TreatMissingData"] == "notBreaching"  # quiet nights are not alarms
        assert 60 <= props["Period"] <= 900
