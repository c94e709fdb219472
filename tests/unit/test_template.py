"""template.yaml against the code it deploys: names, permissions and the secret's shape."""

from __future__ import annotations

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
    template = RESOURCES["CredentialsSecret"]["Properties"]["SecretString"]["Fn::Sub"]
    values = {"SpotifyClientId": "id-1", "SpotifyClientSecret": "secret-2", "MySQLPassword": "p@ss"}
    rendered = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], template)
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
    variables = set(FUNCTION["Environment"]["Variables"])
    assert not variables & set(lambda_function.SECRET_NAMES)


def test_the_cache_table_keeps_its_data_and_expires_entries():
    table = RESOURCES["CacheTable"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    assert '"expires_at"' in SOURCE
