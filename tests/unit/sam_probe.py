"""SAM CLI's own code on template.yaml, for the tests in test_deploy.py.

Run with the SAM CLI's interpreter (.venv-sam/bin/python: samcli and samtranslator live only
there, beside a boto3 older than the tests'); reads one JSON request on stdin, writes one JSON
answer on stdout. Commands:

translate  {"cases": {name: {parameter: value}}} -> {name: CloudFormation template or
           {"error": text}}: samtranslator's transform, as `sam deploy`'s CloudFormation does it.
local-env  {"env_vars": path, "parameters": {...}} -> the variables `sam local invoke
           SkillFunction --env-vars path` gives the function, this process's environment
           standing for the shell's.
guided     {"answers": [line, ...]} -> the prompts `sam deploy --guided` showed and the
           parameter overrides it ends with (no AWS call: the managed bucket and
           the image repositories' stack are stubbed).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any
from unittest import mock

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
MANAGED_POLICIES = {
    "AWSLambdaVPCAccessExecutionRole": (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
    ),
    "AWSLambdaBasicExecutionRole": (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    ),
}
PSEUDO = {"AWS::Region": "ap-northeast-2", "AWS::AccountId": "123456789012"}


class PolicyLoader:
    def load(self) -> dict[str, str]:
        return MANAGED_POLICIES


def load_template() -> dict[str, Any]:
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(TEMPLATE.read_text(encoding="utf-8"))


def packaged() -> dict[str, Any]:
    """The template as `sam deploy` hands it on: its local CodeUri uploaded to S3."""
    template = load_template()
    template["Resources"]["SkillFunction"]["Properties"]["CodeUri"] = "s3://bucket/lambda.zip"
    return template


def translate(request: dict[str, Any]) -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", PSEUDO["AWS::Region"])  # the translator asks boto3
    answers: dict[str, Any] = {}
    for name, parameters in request["cases"].items():
        try:
            answers[name] = transform(packaged(), {**PSEUDO, **parameters}, PolicyLoader())
        except Exception as error:  # a case may be meant to fail; the test decides
            answers[name] = {"error": f"{type(error).__name__}: {error}"}
    return answers


def local_env(request: dict[str, Any]) -> dict[str, str]:
    """What `sam local invoke SkillFunction --env-vars FILE` hands the container: the same
    classes, in the same order, as InvokeContext and LocalLambdaRunner.get_invoke_config."""
    from samcli.commands.local.cli_common.invoke_context import InvokeContext
    from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    stacks, _ = SamLocalStackProvider.get_stacks(
        str(TEMPLATE), parameter_overrides=request.get("parameters") or {}
    )
    provider = SamFunctionProvider(stacks)
    runner = LocalLambdaRunner(
        local_runtime=None,  # type: ignore[arg-type]  # no container is started
        function_provider=provider,
        cwd=str(REPO),
        real_path=str(REPO),
        env_vars_values=InvokeContext._get_env_vars_value(request["env_vars"]),
    )
    function = provider.get("SkillFunction")
    assert function is not None
    return runner.get_invoke_config(function).env_vars.resolve()


def guided(request: dict[str, Any]) -> dict[str, Any]:
    """GuidedContext's prompts fed the given lines, as a terminal would."""
    import click.termui
    from click.testing import CliRunner
    from samcli.commands._utils.template import get_template_parameters
    from samcli.commands.deploy import guided_context
    from samcli.commands.deploy.utils import sanitize_parameter_overrides

    context = guided_context.GuidedContext(
        template_file=str(TEMPLATE),
        stack_name="kakao-music-skill",
        s3_bucket=None,
        image_repository=None,
        image_repositories=None,
        s3_prefix="kakao-music-skill",
        resolve_s3=True,
        region="ap-northeast-2",
        confirm_changeset=True,
        capabilities=None,
    )
    answers = iter(request["answers"])

    def terminal(hidden: bool):  # a terminal: the answer shown unless hidden, EOF at the end
        def read(prompt: str = "") -> str:
            line = next(answers, None)
            if line is None:
                raise EOFError  # as input() and getpass do; click turns it into Abort
            sys.stdout.write(prompt + ("" if hidden else line) + "\n")
            return line

        return read

    with (
        CliRunner().isolation() as (out, _err),
        mock.patch.object(click.termui, "visible_prompt_func", terminal(hidden=False)),
        mock.patch.object(click.termui, "hidden_prompt_func", terminal(hidden=True)),
        mock.patch.object(guided_context, "manage_stack", return_value="managed-bucket"),
        mock.patch.object(guided_context, "print_managed_s3_bucket_info"),
        mock.patch.object(guided_context, "CompanionStackManager"),  # image functions' ECR
    ):
        try:
            context.guided_prompts(get_template_parameters(template_file=str(TEMPLATE)))
            finished, error = True, ""
        except Exception as failure:  # e.g. click.Abort when the answers ran out
            finished, error = False, f"{type(failure).__name__}: {failure}"
        shown = out.getvalue().decode("utf-8", "replace")
    overrides = context.guided_parameter_overrides if finished else None
    return {
        "finished": finished,
        "error": error,
        "output": shown,
        "overrides": sanitize_parameter_overrides(overrides or {}),
        "hidden": sorted(k for k, v in (overrides or {}).items() if v.get("Hidden")),
    }


COMMANDS = {"translate": translate, "local-env": local_env, "guided": guided}

if __name__ == "__main__":
    answer = COMMANDS[sys.argv[1]](json.load(sys.stdin))
    json.dump(answer, sys.stdout, default=str)
