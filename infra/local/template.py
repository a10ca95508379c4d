"""template.yaml read as data, with its intrinsic functions resolved against a local stack.

The local stack and the tests take every table, bucket, queue, bus, route and stream
mapping from here, so a resource is named once: in the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ACCOUNT_ID = "123456789012"
# The property that names a resource, where it is not ``Name``.
_NAME_PROPERTY = {"AWS::S3::Bucket": "BucketName", "AWS::SNS::Topic": "TopicName"}
# What ``!Ref AWS::NoValue`` resolves to: the key or item that holds it is left out.
NO_VALUE: Any = object()


class _CfnLoader(yaml.SafeLoader):
    """Reads ``!Ref``, ``!GetAtt``, ``!Sub`` ... as their long ``{"Fn::...": ...}`` forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    # ``!Ref`` and ``!Condition`` are the only short forms whose long form has no ``Fn::``.
    return {suffix if suffix in {"Ref", "Condition"} else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return document


@dataclass
class Stack:
    """Physical names and attributes of a stack's resources, as a deployment would have them."""

    name: str
    region: str
    template: dict[str, Any]
    parameters: dict[str, str] = field(default_factory=dict)

    def resources(self, kind: str | None = None) -> dict[str, dict[str, Any]]:
        """The resources this stack's parameters create (a false Condition leaves one out)."""
        found = self.template.get("Resources", {})
        return {
            k: v
            for k, v in found.items()
            if (kind is None or v["Type"] == kind)
            and ("Condition" not in v or self.condition(v["Condition"]))
        }

    def parameter(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        return str(self.template.get("Parameters", {})[name].get("Default", ""))

    def physical_name(self, logical: str) -> str:
        resource = self.template["Resources"][logical]
        properties = resource.get("Properties", {})
        explicit = properties.get(_NAME_PROPERTY.get(resource["Type"], "Name"))
        if explicit is not None:
            return str(self.resolve(explicit))
        name = f"{self.name}-{logical}"
        return name.lower() if resource["Type"] == "AWS::S3::Bucket" else name

    def ref(self, logical: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::StackName": self.name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if logical in pseudo:
            return pseudo[logical]
        if logical in self.template.get("Parameters", {}):
            return self.parameter(logical)
        kind = self.template["Resources"][logical]["Type"]
        name = self.physical_name(logical)
        if kind == "AWS::SQS::Queue":
            return self.queue_url(name)
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{self.region}:{ACCOUNT_ID}:{name}"
        return name

    def queue_url(self, name: str) -> str:
        return f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{name}"

    def get_att(self, logical: str, attribute: str) -> str:
        kind = self.template["Resources"][logical]["Type"]
        name = self.physical_name(logical)
        arns = {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{self.region}:{ACCOUNT_ID}:table/{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{name}",
            "AWS::Events::EventBus": f"arn:aws:events:{self.region}:{ACCOUNT_ID}:event-bus/{name}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}",
        }
        if attribute == "Arn":
            return arns[kind]
        if attribute == "QueueName":
            return name
        if attribute == "StreamArn":
            # Only known once the table exists; the local stack asks DynamoDB for it.
            return f"{arns[kind]}/stream/*"
        raise KeyError(f"{logical}.{attribute} is not emulated")

    def resolve(self, value: Any) -> Any:  # noqa: ANN401, PLR0911 - untyped values; a return per intrinsic
        """A template value with its intrinsics worked out; ``!Ref AWS::NoValue`` leaves its key
        or list item out, as CloudFormation does."""
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return NO_VALUE if argument == "AWS::NoValue" else self.ref(argument)
            if function == "Fn::GetAtt":
                return self.get_att(*argument)
            if function == "Fn::Sub":
                return self._sub(argument)
            if function == "Fn::If":
                condition, when_true, when_false = argument
                return self.resolve(when_true if self.condition(condition) else when_false)
        if isinstance(value, dict):
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not NO_VALUE]
        return value

    def condition(self, name: str) -> bool:
        """One of the template's Conditions, for this stack's parameters."""
        return self._truth(self.template.get("Conditions", {})[name])

    def _truth(self, expression: Any) -> bool:  # noqa: ANN401 - template values are untyped
        ((function, argument),) = expression.items()
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Equals":
            left, right = (self.resolve(side) for side in argument)
            return bool(left == right)
        if function == "Fn::Not":
            return not self._truth(argument[0])
        if function == "Fn::And":
            return all(self._truth(part) for part in argument)
        if function == "Fn::Or":
            return any(self._truth(part) for part in argument)
        raise NotImplementedError(f"condition function {function} is not emulated")

    def _sub(self, argument: str | list[Any]) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])

        def replace(match: re.Match[str]) -> str:
            token = match[1]
            if token in variables:
                return str(self.resolve(variables[token]))
            if "." in token:
                logical, attribute = token.split(".", 1)
                return self.get_att(logical, attribute)
            return self.ref(token)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def function_environment(self, logical: str) -> dict[str, str]:
        """A function's environment variables: the Globals' and its own, resolved."""
        merged: dict[str, Any] = {}
        globals_env = self.template.get("Globals", {}).get("Function", {}).get("Environment", {})
        merged.update(globals_env.get("Variables", {}))
        own = self.template["Resources"][logical]["Properties"].get("Environment", {})
        merged.update(own.get("Variables", {}))
        return {name: str(self.resolve(value)) for name, value in merged.items()}

    def function_handler(self, logical: str) -> str:
        return str(self.template["Resources"][logical]["Properties"]["Handler"])

    def http_routes(self) -> list[tuple[str, str, str, str | None]]:
        """(method, path template, function logical id, authorizer or None) for every HttpApi event."""
        routes = []
        for logical, resource in self.resources("AWS::Serverless::Function").items():
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] == "HttpApi":
                    properties = event["Properties"]
                    authorizer = properties.get("Auth", {}).get("Authorizer")
                    routes.append((properties["Method"].upper(), properties["Path"], logical, authorizer))
        return routes

    def queue_mappings(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(function logical id, queue logical id, event properties) for SQS events."""
        mappings = []
        for logical, resource in self.resources("AWS::Serverless::Function").items():
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] == "SQS":
                    queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                    mappings.append((logical, queue, event["Properties"]))
        return mappings

    def stream_mappings(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(function logical id, table logical id, event properties) for DynamoDB events."""
        mappings = []
        for logical, resource in self.resources("AWS::Serverless::Function").items():
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] == "DynamoDB":
                    table = event["Properties"]["Stream"]["Fn::GetAtt"][0]
                    mappings.append((logical, table, event["Properties"]))
        return mappings
