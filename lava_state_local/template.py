"""deploy/lava-state.yaml, the one definition of a realm, as the local stack uses it.

The embedded AWS deploys the template itself (``LocalAws.provision_realm``):
every resource but the types it cannot run (:data:`NOT_DEPLOYED`) and what
refers to them. The local stream runner stands in for the processor's
function and its event source mapping, configured from the same template:
the mapping's properties and the function's environment, resolved for the
stack's parameters (:class:`Resolved`).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from lava_state.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Mapping

_PACKAGED = Path(__file__).with_name("lava-state.yaml")  # the wheel's (pyproject.toml)
#: The template: the installed package's copy, else the checkout's.
TEMPLATE = (
    _PACKAGED
    if _PACKAGED.is_file()
    else Path(__file__).resolve().parents[1] / "deploy" / "lava-state.yaml"
)

#: The resource types the embedded AWS does not deploy, and why.
NOT_DEPLOYED = {
    "AWS::Lambda::Function": "moto cannot invoke it: the local stream runner runs the processor",
    "AWS::Lambda::EventSourceMapping": "the local stream runner is the event source mapping",
    "AWS::CloudWatch::Alarm": "moto's CloudFormation has no alarms (nor the Lambda metrics)",
}

_NO_VALUE = object()
_SUB_NAME = re.compile(r"\$\{([^}!]+)\}")


@functools.cache
def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as data, CloudFormation's short tags (``!Ref``, ``!Sub``...) in
    their long forms (``{"Ref": ...}``, ``{"Fn::Sub": ...}``). Cached: not to be changed."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def long_form(loader: Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(cast("yaml.MappingNode", node), deep=True)
        if suffix in ("Ref", "Condition"):
            return {suffix: value}
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", long_form)
    template: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader)  # noqa: S506
    return template


def references(node: Any) -> set[str]:
    """The logical ids and parameters ``node`` refers to (Ref, GetAtt, Sub)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                found.add(str(value))
            elif key == "Fn::GetAtt":
                found.add(str(value[0]))
            elif key == "Fn::Sub":
                text, names = (value, {}) if isinstance(value, str) else value
                found |= {m.split(".")[0] for m in _SUB_NAME.findall(text)} - set(names)
                found |= references(names)
            else:
                found |= references(value)
    return found


def local_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """``template`` without the resources of :data:`NOT_DEPLOYED` types, those that
    refer to or depend on them, the outputs that name them and the rules that
    check only parameters that no resource left in uses."""
    resources = dict(template["Resources"])
    dropped = {k for k, r in resources.items() if r["Type"] in NOT_DEPLOYED}
    while True:
        also = {
            k
            for k, r in resources.items()
            if k not in dropped and (references(r) | set(_listed(r.get("DependsOn", [])))) & dropped
        }
        if not also:
            break
        dropped |= also
    kept = {k: r for k, r in resources.items() if k not in dropped}
    used = set().union(*(references(r) for r in kept.values()))
    unused = set(template.get("Parameters", {})) - used
    local = {k: v for k, v in template.items() if k not in ("Resources", "Outputs", "Rules")}
    local["Resources"] = kept
    local["Outputs"] = {
        k: o for k, o in template.get("Outputs", {}).items() if not references(o) & dropped
    }
    rules = {
        k: r
        for k, r in template.get("Rules", {}).items()
        if not references(r.get("Assertions", [])) <= unused
    }
    if rules:
        local["Rules"] = rules
    return local


def check_parameters(template: Mapping[str, Any], given: Mapping[str, str]) -> None:
    """Check ``given`` parameter values as CloudFormation does (moto does not): known
    names, ``AllowedValues``, ``AllowedPattern``, lengths, numbers and their bounds.

    Raises:
        InvalidInput: the first value refused, and what the template allows.
    """
    declared = template["Parameters"]
    for name, value in given.items():
        spec = declared.get(name)
        if spec is None:
            raise InvalidInput(
                f"unknown parameter {name!r}: the template has {', '.join(sorted(declared))}"
            )
        problem = _parameter_problem(spec, value)
        if problem:
            raise InvalidInput(f"parameter {name}={value!r}: {problem}")


def _parameter_problem(spec: Mapping[str, Any], value: str) -> str | None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(a) for a in allowed]:
        return f"use one of {', '.join(str(a) for a in allowed)}"
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        return f"must match {pattern}"
    shortest, longest = spec.get("MinLength", 0), spec.get("MaxLength")
    if len(value) < shortest or (longest is not None and len(value) > longest):
        return f"must be {shortest} to {longest if longest is not None else 'any'} characters"
    if spec["Type"] == "Number":
        try:
            number = float(value)
        except ValueError:
            return "must be a number"
        if not spec.get("MinValue", number) <= number <= spec.get("MaxValue", number):
            return (
                f"must be between {spec.get('MinValue', '-inf')} and {spec.get('MaxValue', 'inf')}"
            )
    return None


@functools.cache
def local_body() -> str:
    """The local template of :data:`TEMPLATE`, as the JSON body CloudFormation takes."""
    return json.dumps(local_template(load()))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class Resolved:
    """The template with its intrinsic functions evaluated for ``parameters``
    (defaults for the others) and ``attributes`` ("Logical.Attr", or a logical
    id for its Ref: the value). An attribute not given resolves to
    ``<Logical.Attr>``, which no real name or ARN matches."""

    def __init__(
        self,
        template: dict[str, Any],
        parameters: Mapping[str, str],
        attributes: Mapping[str, str] | None = None,
        *,
        account: str,
        region: str,
    ) -> None:
        self.template = template
        self.attributes = dict(attributes or {})
        self.values: dict[str, Any] = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": "aws",
        }
        for name, spec in template["Parameters"].items():
            value = str(parameters.get(name, spec.get("Default", "")))  # CloudFormation's are text
            self.values[name] = value.split(",") if spec["Type"] == "CommaDelimitedList" else value

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(n) for n in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((name, arg),) = node.items()
            function = self._functions().get(name)
            if function is not None:
                return function(arg)
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def properties(self, logical_id: str) -> dict[str, Any]:
        """A resource's properties, resolved.

        Raises:
            LookupError: the resource is not in the template, or its condition is false.
        """
        resource = self.template["Resources"][logical_id]
        condition = resource.get("Condition")
        if condition is not None and not self.condition(condition):
            raise LookupError(f"{logical_id} is not created: its condition {condition} is false")
        properties: dict[str, Any] = self.resolve(resource["Properties"])
        return properties

    def _functions(self) -> dict[str, Any]:
        r = self.resolve
        return {
            "Ref": self._ref,
            "Fn::GetAtt": lambda a: self._attribute(".".join(a) if isinstance(a, list) else a),
            "Fn::Sub": self._sub,
            "Fn::Join": lambda a: str(a[0]).join(r(a[1])),
            "Fn::Split": lambda a: r(a[1]).split(str(a[0])),
            "Fn::If": lambda a: r(a[1] if self.condition(a[0]) else a[2]),
            "Fn::Equals": lambda a: r(a[0]) == r(a[1]),
            "Fn::Not": lambda a: not r(a[0]),
            "Fn::And": lambda a: all(r(x) for x in a),
            "Fn::Or": lambda a: any(r(x) for x in a),
            "Condition": self.condition,
        }

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        return self.values[name] if name in self.values else self._attribute(name)

    def _attribute(self, name: str) -> str:
        if name in self.attributes:
            return self.attributes[name]
        if name.split(".", maxsplit=1)[0] not in self.template["Resources"]:
            raise LookupError(f"the template has no resource or parameter {name}")
        return f"<{name}>"

    def _sub(self, arg: Any) -> str:
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if name in self.values:
                return str(self.values[name])
            return self._attribute(name)

        return _SUB_NAME.sub(value, str(text))
