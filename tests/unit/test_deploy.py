"""template.yaml as SAM and CloudFormation would deploy it, for the answers a newcomer gives.

SAM's own code does the SAM parts, run by the SAM CLI's interpreter (sam_probe.py):
samtranslator's transform, `sam deploy --guided`'s prompts, `sam local invoke`'s environment
and the `sam` command itself. cfn_stack.Stack then plays CloudFormation: parameter checks,
Rules, Conditions, Fn::If.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import lambda_function
from tests.unit.cfn_stack import ParameterRejected, Stack
from tests.unit.test_template import OPTIONAL_TEXT

REPO = Path(__file__).resolve().parents[2]
SAM_PYTHON = REPO / ".venv-sam" / "bin" / "python"
SAM = REPO / ".venv-sam" / "bin" / "sam"
PROBE = Path(__file__).with_name("sam_probe.py")
ENV_FILE = REPO / "events" / "env.example.json"

if not SAM_PYTHON.exists():
    pytest.skip("needs the SAM CLI in .venv-sam (make lint installs it)", allow_module_level=True)

SECRET_ARN = "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:kakao-AbCdEf"
OPTIONAL = (*OPTIONAL_TEXT, "SubnetIds", "SecurityGroupIds")
FULL = {
    "SpotifyClientId": "client-id",
    "SpotifyClientSecret": "client-secret",
    "MySQLHost": "db.example.internal",
    "MySQLPassword": "p@ss word",
    "MySQLSslCa": "global-bundle.pem",
    "SubnetIds": "subnet-1,subnet-2",
    "SecurityGroupIds": "sg-1",
    "ReservedConcurrency": "5",
    "AlarmEmail": "ops@example.com",
}
CASES: dict[str, dict[str, str]] = {
    "defaults": {},
    "no-key": {"RequireApiKey": "false"},
    "dashes": dict.fromkeys(OPTIONAL, "-"),
    "empty": dict.fromkeys(OPTIONAL, ""),
    "full": FULL,
    "secret-arn": {"SecretArn": SECRET_ARN, "SpotifyClientSecret": "ignored"},
    "secret-parameter": {"SecretParameterName": "/kakao/music", "SecretArn": "-"},
    "dash-id-and-password": {
        "SpotifyClientId": "-",
        "SpotifyClientSecret": "client-secret",
        "MySQLPassword": "-",
    },
    "throttle": {"ApiRateLimit": "5", "ApiBurstLimit": "10", "RequireApiKey": "true"},
    "subnets-only": {"SubnetIds": "subnet-1"},
    "subnets-and-dash": {"SubnetIds": "subnet-1", "SecurityGroupIds": "-"},
    "groups-only": {"SecurityGroupIds": "sg-1"},
}


def probe(command: str, request: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    done = subprocess.run(
        [str(SAM_PYTHON), str(PROBE), command],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env or offline_env(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def offline_env(**extra: str) -> dict[str, str]:
    """No AWS credentials, no instance metadata, no Docker: nothing here may reach AWS."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "SAM_CLI_TELEMETRY": "0",
        **extra,
    }


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    answers = probe("translate", {"cases": CASES})
    failed = {name: answer["error"] for name, answer in answers.items() if "error" in answer}
    assert not failed
    return answers


@pytest.fixture(scope="module")
def stacks(translated) -> dict[str, Stack]:
    return {name: Stack(translated[name], CASES[name]) for name in CASES}


def function(stack: Stack) -> dict[str, Any]:
    (body,) = stack.of_type("AWS::Lambda::Function").values()
    return body["Properties"]


def variables(stack: Stack) -> dict[str, Any]:
    return function(stack)["Environment"]["Variables"]


def role_statements(stack: Stack) -> list[dict[str, Any]]:
    role = stack.resources["SkillFunctionRole"]["Properties"]
    return [
        statement
        for policy in role.get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


# ---- API Gateway: the key, the deployment that carries it, the throttle


@pytest.mark.parametrize(("case", "with_key"), [("defaults", True), ("no-key", False)])
def test_the_stage_serves_the_deployment_made_for_the_key_setting(stacks, case, with_key):
    stack = stacks[case]
    (deployment,) = stack.of_type("AWS::ApiGateway::Deployment")
    assert deployment.startswith("SkillDeploymentWithKey" if with_key else "SkillDeploymentOpen")
    stage = stack.resources["SkillStage"]["Properties"]
    assert stage["DeploymentId"] == {"Ref": deployment}
    assert stack.resources["SkillMethod"]["Properties"]["ApiKeyRequired"] is with_key
    assert ("SkillApiKey" in stack.resources) is with_key
    assert ("SkillUsagePlan" in stack.resources) is with_key
    assert ("ApiKeyId" in stack.outputs) is with_key


def test_switching_the_key_replaces_the_deployment(stacks):
    """A new logical id is what makes CloudFormation create a deployment on an update."""
    with_key = set(stacks["defaults"].of_type("AWS::ApiGateway::Deployment"))
    without = set(stacks["no-key"].of_type("AWS::ApiGateway::Deployment"))
    assert with_key and without and not with_key & without


@pytest.mark.parametrize(
    ("case", "rate", "burst"),
    [("defaults", "20", "40"), ("no-key", "20", "40"), ("throttle", "5", "10")],
)
def test_the_stage_throttles_every_caller(stacks, case, rate, burst):
    stack = stacks[case]
    (setting,) = stack.resources["SkillStage"]["Properties"]["MethodSettings"]
    assert (setting["ResourcePath"], setting["HttpMethod"]) == ("/*", "*")
    assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]) == (rate, burst)
    if "SkillUsagePlan" in stack.resources:
        throttle = stack.resources["SkillUsagePlan"]["Properties"]["Throttle"]
        assert (throttle["RateLimit"], throttle["BurstLimit"]) == (rate, burst)


# ---- "-" is empty


def test_dash_answers_deploy_exactly_what_empty_answers_deploy(stacks):
    dashes, empty = stacks["dashes"], stacks["empty"]
    assert dashes.conditions == empty.conditions
    assert set(dashes.resources) == set(empty.resources)
    assert function(dashes) == function(empty)


def test_dash_answers_turn_every_option_off(stacks):
    stack = stacks["dashes"]
    on = {name for name, value in stack.conditions.items() if value}
    assert on == {"UseApiKey"}  # the key is not an option "-" answers: it defaults to true
    env = variables(stack)
    assert "-" not in json.dumps(env)
    assert env["SECRET_ARN"] == env["SECRET_PARAMETER"] == env["MYSQL_HOST"] == ""
    assert env["MYSQL_SSL_CA"] == "" and env["FUNCTION_IN_VPC"] == "false"
    props = function(stack)
    assert "VpcConfig" not in props and "ReservedConcurrentExecutions" not in props
    assert not {"CredentialsSecret", "AlarmTopic"} & set(stack.resources)
    assert not stack.failed_rules


def test_given_answers_reach_the_function(stacks):
    stack = stacks["full"]
    env = variables(stack)
    assert env["MYSQL_HOST"] == "db.example.internal"
    assert env["MYSQL_SSL_CA"] == "global-bundle.pem"
    assert env["MYSQL_ALLOW_PLAINTEXT"] == "false"
    assert env["FUNCTION_IN_VPC"] == "true"
    assert env["SECRET_ARN"] == {"Ref": "CredentialsSecret"}
    assert env["SPOTIFY_CLIENT_ID"] == env["SPOTIFY_CLIENT_SECRET"] == ""  # in the secret only
    vpc = function(stack)["VpcConfig"]
    assert vpc == {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]}
    role = stack.resources["SkillFunctionRole"]["Properties"]
    assert any("AWSLambdaVPCAccessExecutionRole" in arn for arn in role["ManagedPolicyArns"])
    assert not stack.failed_rules


def test_the_stack_secret_holds_empty_values_for_dash_answers(stacks):
    for case, client_id, password in [
        ("dash-id-and-password", "", ""),
        ("full", "client-id", "p@ss word"),
    ]:
        text = stacks[case].resources["CredentialsSecret"]["Properties"]["SecretString"]
        secret = json.loads(text)
        assert set(secret) <= set(lambda_function.SECRET_NAMES)
        assert secret == {
            "SPOTIFY_CLIENT_ID": client_id,
            "SPOTIFY_CLIENT_SECRET": "client-secret",
            "MYSQL_PASSWORD": password,
        }


# ---- where the credentials come from, and the permission that follows


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


@pytest.mark.parametrize(
    ("case", "secret_arn", "parameter", "granted"),
    [
        ("secret-arn", SECRET_ARN, "", {"secretsmanager:GetSecretValue": SECRET_ARN}),
        ("secret-parameter", "", "/kakao/music", {"ssm:GetParameter": ":parameter/kakao/music"}),
        (
            "full",
            {"Ref": "CredentialsSecret"},
            "",
            {"secretsmanager:GetSecretValue": '{"Ref": "CredentialsSecret"}'},
        ),
        ("dashes", "", "", {}),
    ],
)
def test_the_function_may_read_exactly_its_own_secret(stacks, case, secret_arn, parameter, granted):
    stack = stacks[case]
    env = variables(stack)
    assert (env["SECRET_ARN"], env["SECRET_PARAMETER"]) == (secret_arn, parameter)
    assert ("CredentialsSecret" in stack.resources) is (case == "full")
    found = {
        action: json.dumps(statement["Resource"])
        for statement in role_statements(stack)
        for action in actions(statement)
        if not action.startswith(("dynamodb:", "lambda:"))  # checked on their own
    }
    assert set(found) == set(granted)
    for action, resource in granted.items():
        assert resource in found[action]


def test_the_function_may_invoke_only_itself(stacks):
    """Kakao's callback: the function finishes a late answer by invoking itself."""
    statements = [
        s for s in role_statements(stacks["defaults"]) if "lambda:InvokeFunction" in actions(s)
    ]
    (invoke,) = statements
    assert actions(invoke) == {"lambda:InvokeFunction"}
    resource = json.dumps(invoke["Resource"])
    assert ":function:" in resource and "-SkillFunction-*" in resource and "*:*" not in resource


# ---- the VPC rule


@pytest.mark.parametrize(
    ("case", "complaint"),
    [
        ("subnets-only", "SubnetIds is set but SecurityGroupIds is empty"),
        ("subnets-and-dash", "SubnetIds is set but SecurityGroupIds is empty"),
        ("groups-only", "SecurityGroupIds is set but SubnetIds is empty"),
    ],
)
def test_half_a_vpc_fails_the_deploy_with_a_clear_reason(stacks, case, complaint):
    (failure,) = stacks[case].failed_rules
    assert failure.startswith(complaint)


@pytest.mark.parametrize("case", ["defaults", "dashes", "empty", "full"])
def test_both_or_neither_passes_the_rules(stacks, case):
    assert stacks[case].failed_rules == []


# ---- concurrency and alarms


@pytest.mark.parametrize(
    ("case", "reserved"), [("defaults", None), ("dashes", None), ("full", "5")]
)
def test_reserved_concurrency_only_when_given(stacks, case, reserved):
    assert function(stacks[case]).get("ReservedConcurrentExecutions") == reserved


@pytest.mark.parametrize("value", ["0", "-5", "five", "--"])
def test_reserved_concurrency_refuses_what_would_throttle_everything_or_nothing(translated, value):
    with pytest.raises(ParameterRejected, match="ReservedConcurrency"):
        Stack(translated["defaults"], {"ReservedConcurrency": value})


@pytest.mark.parametrize(
    ("case", "email"), [("defaults", None), ("dashes", None), ("full", "ops@example.com")]
)
def test_alarms_email_only_when_an_address_is_given(stacks, case, email):
    stack = stacks[case]
    alarms = stack.of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) == 4  # there either way, visible in the console
    if email is None:
        assert "AlarmTopic" not in stack.resources and "AlarmTopicArn" not in stack.outputs
        assert all("AlarmActions" not in body["Properties"] for body in alarms.values())
    else:
        topic = stack.resources["AlarmTopic"]["Properties"]
        assert topic["Subscription"] == [{"Protocol": "email", "Endpoint": email}]
        assert all(
            body["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
            for body in alarms.values()
        )


def test_the_api_alarm_names_the_stage_and_api_the_stack_creates(stacks):
    stack = stacks["defaults"]
    (alarm,) = (
        body["Properties"]
        for body in stack.of_type("AWS::CloudWatch::Alarm").values()
        if body["Properties"]["MetricName"] == "5XXError"
    )
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions["ApiName"] == stack.resources["SkillApi"]["Properties"]["Name"]
    assert dimensions["Stage"] == {"Ref": "SkillStage"}
    assert stack.resources["SkillStage"]["Properties"]["StageName"] == "Prod"


# ---- sam deploy --guided, driven by SAM CLI's own prompt code


def guided_answers(template_parameters: dict[str, Any], empty_first: set[str]) -> list[str]:
    lines = ["", ""]  # stack name, region: the defaults
    for name, spec in template_parameters.items():
        lines += [""] if name in empty_first else []
        optional = spec.get("Default", None) == "" and name in OPTIONAL
        lines.append("-" if optional else "")  # "": the default, as Enter gives
    return [*lines, "y", "y", "n", "n"]  # confirm changes, allow IAM roles, keep rollback, no save


@pytest.fixture(scope="module")
def guided_run(translated) -> dict[str, Any]:
    parameters = translated["defaults"]["Parameters"]
    run = probe("guided", {"answers": guided_answers(parameters, {"SpotifyClientSecret"})})
    assert run["finished"], run["error"] + run["output"][-2000:]
    return run


def test_guided_asks_again_after_an_empty_secret_then_takes_a_dash(guided_run):
    prompts = [line.strip() for line in guided_run["output"].splitlines()]
    assert prompts.count("Parameter SpotifyClientSecret:") == 2  # "" refused, "-" taken
    assert prompts.count("Parameter MySQLPassword:") == 1
    assert guided_run["hidden"] == ["MySQLPassword", "SpotifyClientSecret"]  # never saved


def test_guided_without_dashes_never_finishes(translated):
    """Only empty answers: the NoEcho prompt takes none, and the input runs out."""
    parameters = translated["defaults"]["Parameters"]
    lines = ["", ""] + [""] * (len(parameters) + 20)
    run = probe("guided", {"answers": lines})
    assert not run["finished"]
    prompts = [line.strip() for line in run["output"].splitlines()]
    assert prompts.count("Parameter SpotifyClientSecret:") > 10


def test_guided_dash_answers_deploy_as_empty(guided_run, translated):
    overrides = guided_run["overrides"]
    assert {name for name, value in overrides.items() if value == "-"} == set(OPTIONAL)
    deployed = Stack(probe("translate", {"cases": {"guided": overrides}})["guided"], overrides)
    assert deployed.conditions == Stack(translated["empty"], CASES["empty"]).conditions
    assert not deployed.failed_rules
    assert "-" not in json.dumps(variables(deployed))
    assert not {"CredentialsSecret", "AlarmTopic"} & set(deployed.resources)


# ---- sam local invoke --env-vars events/env.example.json


@pytest.fixture(scope="module")
def local_env() -> dict[str, str]:
    shell = offline_env(
        SPOTIFY_CLIENT_ID="id-from-shell", SPOTIFY_CLIENT_SECRET="secret-from-shell"
    )
    return probe("local-env", {"env_vars": str(ENV_FILE)}, env=shell)


def test_the_env_file_only_names_variables_sam_passes(translated):
    (values,) = json.loads(ENV_FILE.read_text(encoding="utf-8")).values()
    declared = translated["defaults"]["Resources"]["SkillFunction"]["Properties"]
    names = set(declared["Environment"]["Variables"])
    assert set(values) - {"//"} <= names
    assert not set(values) & {"SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"}  # the shell's


def test_a_local_invoke_gets_the_files_values_and_the_shells_credentials(local_env):
    (values,) = json.loads(ENV_FILE.read_text(encoding="utf-8")).values()
    for name, value in values.items():
        if name != "//":
            assert local_env[name] == value, name
    assert "//" not in local_env  # the note is not a variable
    assert local_env["SPOTIFY_CLIENT_ID"] == "id-from-shell"
    assert local_env["SPOTIFY_CLIENT_SECRET"] == "secret-from-shell"
    settings = lambda_function.Settings.from_env(local_env)
    assert settings.spotify_configured
    assert settings.dynamodb_table == "" and settings.mysql_host == ""


def test_without_the_file_a_local_invoke_would_look_for_a_table_named_cachetable(tmp_path):
    """Why the file sets DYNAMODB_TABLE: SAM resolves !Ref CacheTable to the logical id."""
    empty = tmp_path / "env.json"
    empty.write_text("{}", encoding="utf-8")
    assert probe("local-env", {"env_vars": str(empty)})["DYNAMODB_TABLE"] == "CacheTable"


# ---- the sam command itself: template.yaml even beside a stale `sam build`


@pytest.mark.parametrize("command", [["deploy"], ["local", "invoke", "SkillFunction"]])
def test_sam_uses_template_yaml_even_beside_a_stale_build(tmp_path, command):
    shutil.copy(REPO / "template.yaml", tmp_path)
    shutil.copy(REPO / "samconfig.toml", tmp_path)
    stale = tmp_path / ".aws-sam" / "build" / "template.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("Resources:\n  Stale:\n    Type: AWS::SNS::Topic\n", encoding="utf-8")
    done = subprocess.run(
        [str(SAM), *command, "--debug"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=offline_env(),
        timeout=120,
        check=False,
    )
    # It stops there (no credentials, no Docker), after choosing its template.
    assert done.returncode != 0
    assert f"Using SAM Template at {tmp_path / 'template.yaml'}" in done.stdout + done.stderr


def test_make_deploy_packages_then_deploys_without_sam_build():
    def recipe(*args: str) -> list[str]:
        done = subprocess.run(
            ["make", "--no-print-directory", "-n", "deploy", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        )
        return done.stdout.splitlines()

    lines = recipe()
    package = next(i for i, line in enumerate(lines) if "devtools.package" in line)
    deploy = next(i for i, line in enumerate(lines) if "/sam deploy" in line)
    assert package < deploy
    assert "--template-file template.yaml" in lines[deploy] and "--guided" not in lines[deploy]
    assert not any("sam build" in line for line in lines)
    assert recipe("GUIDED=1")[-1].endswith("--guided")
