"""Just enough of CloudFormation to see what a stack holds for given parameter values.

Given a template (already through SAM's transform, see sam_probe.py) and the parameter values
CloudFormation would receive, as strings: checks them against AllowedValues / AllowedPattern /
MinValue, evaluates the Rules' assertions and the Conditions, keeps the resources and outputs
whose condition holds, and resolves Fn::If, AWS::NoValue, Ref to a parameter, Fn::Join and
Fn::Sub's parameter names. Refs to resources, Fn::GetAtt and pseudo parameters stay as written.
"""

from __future__ import annotations

import re
from typing import Any

NO_VALUE = object()


class ParameterRejected(ValueError):
    """CloudFormation would refuse the stack before creating anything."""


class Stack:
    def __init__(self, template: dict[str, Any], given: dict[str, str]):
        self.template = template
        self.parameters = template.get("Parameters", {})
        unknown = set(given) - set(self.parameters)
        if unknown:
            raise ParameterRejected(f"not parameters of the template: {sorted(unknown)}")
        self.values = {name: self._value(name, given) for name in self.parameters}
        self._conditions: dict[str, bool] = {}
        self.conditions = {name: self.condition(name) for name in template.get("Conditions", {})}
        self.failed_rules = [
            assertion.get("AssertDescription", name)
            for name, rule in template.get("Rules", {}).items()
            for assertion in rule["Assertions"]
            if not self._rule_value(assertion["Assert"])
        ]
        self.resources = self._existing(template.get("Resources", {}))
        self.outputs = self._existing(template.get("Outputs", {}))

    # ---- parameters

    def _value(self, name: str, given: dict[str, str]) -> str | list[str]:
        spec = self.parameters[name]
        if name in given:
            raw = str(given[name])
        elif "Default" in spec:
            raw = str(spec["Default"])
        else:
            raise ParameterRejected(f"{name}: no value and no default")
        if "AllowedValues" in spec and raw not in [str(v) for v in spec["AllowedValues"]]:
            raise ParameterRejected(f"{name}: {raw!r} is not one of {spec['AllowedValues']}")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], raw):
            raise ParameterRejected(f"{name}: {raw!r} does not match {spec['AllowedPattern']}")
        if spec["Type"] == "Number":
            number = float(raw)
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise ParameterRejected(f"{name}: {raw} is under {spec['MinValue']}")
        if spec["Type"] == "CommaDelimitedList":
            return [item.strip() for item in raw.split(",")]
        return raw

    # ---- conditions and rules

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = self._truth(self.template["Conditions"][name])
        return self._conditions[name]

    def _truth(self, node: Any) -> bool:
        (function, args), *rest = node.items()
        assert not rest, node
        if function == "Condition":
            return self.condition(args)
        if function == "Fn::Equals":
            left, right = (self.resolve(arg) for arg in args)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self._truth(args[0])
        if function == "Fn::And":
            return all(self._truth(arg) for arg in args)
        if function == "Fn::Or":
            return any(self._truth(arg) for arg in args)
        raise NotImplementedError(function)

    def _rule_value(self, node: Any) -> Any:
        """The functions a rule may use (a subset: the ones this template's rules need)."""
        if not isinstance(node, dict):
            return node
        (function, args), *rest = node.items()
        assert not rest, node
        if function == "Ref":
            return self.values[args]
        if function == "Fn::Not":
            return not self._rule_value(args[0])
        if function == "Fn::And":
            return all(self._rule_value(arg) for arg in args)
        if function == "Fn::Or":
            return any(self._rule_value(arg) for arg in args)
        if function == "Fn::Equals":
            left, right = (self._rule_value(arg) for arg in args)
            return left == right
        if function == "Fn::EachMemberIn":
            members, allowed = (self._rule_value(arg) for arg in args)
            return all(member in allowed for member in members)
        if function == "Fn::EachMemberEquals":
            members, value = (self._rule_value(arg) for arg in args)
            return all(member == value for member in members)
        raise NotImplementedError(function)

    # ---- resources

    def _existing(self, section: dict[str, Any]) -> dict[str, Any]:
        return {
            name: self.resolve(body)
            for name, body in section.items()
            if "Condition" not in body or self.condition(body["Condition"])
        }

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, args),) = node.items()
            function = self._functions().get(key)
            resolved = function(args) if function else None
            if resolved is not None:
                return resolved
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _functions(self) -> dict[str, Any]:
        """Each returns the value, or None to leave the function as written."""
        return {"Fn::If": self._if, "Ref": self._ref, "Fn::Join": self._join, "Fn::Sub": self._sub}

    def _if(self, args: Any) -> Any:
        name, when_true, when_false = args
        return self.resolve(when_true if self.condition(name) else when_false)

    def _ref(self, name: str) -> Any:
        return NO_VALUE if name == "AWS::NoValue" else self.values.get(name)

    def _join(self, args: Any) -> Any:
        separator, items = args[0], self.resolve(args[1])
        if isinstance(items, list) and all(isinstance(item, str) for item in items):
            return separator.join(items)
        return None

    def _sub(self, args: Any) -> Any:
        text, variables = (args, {}) if isinstance(args, str) else (args[0], args[1])
        names = {name: self.resolve(value) for name, value in variables.items()}
        for name, value in self.values.items():
            if isinstance(value, str):
                names.setdefault(name, value)

        def fill(match: re.Match[str]) -> str:
            value = names.get(match.group(1))
            return value if isinstance(value, str) else match.group(0)

        return re.sub(r"\$\{([\w:.]+)\}", fill, text)

    def of_type(self, kind: str) -> dict[str, Any]:
        return {name: body for name, body in self.resources.items() if body["Type"] == kind}
