"""CloudFormation's intrinsic functions, resolved locally: Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::If and
the template's Conditions, against the parameters, the pseudo parameters and what was created so far;
and the order resources are created in (their references and DependsOn)."""

from __future__ import annotations

import graphlib
import re
from typing import Any

import boto3

from devstack.provision.resources import Physical, ProvisionError, Resource

NO_VALUE = object()  # `Ref: AWS::NoValue`: the property is left out


class Context:
    """Clients for one moto endpoint plus what intrinsic functions resolve against."""

    def __init__(self, endpoint_url: str, region: str, stack: str, parameters: dict[str, str],
                 conditions: dict[str, Any] | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.stack_name = stack
        self.parameters = parameters
        self.conditions = conditions or {}  # the template's `Conditions`, evaluated when used
        self.physical: dict[str, Physical] = {}
        self._clients: dict[str, Any] = {}
        account = self.client("sts").get_caller_identity()["Account"]
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack,
        }

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service, endpoint_url=self.endpoint_url, region_name=self.region
            )
        return self._clients[service]

    def default_name(self, resource: Resource) -> str:
        return resource.physical_id or f"{self.stack_name}-{resource.logical_id}"

    # --- intrinsic functions -------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref":
                    return self._ref(arg)
                if key == "Fn::GetAtt":
                    logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                    return self._get_att(logical_id, attribute)
                if key == "Fn::Sub":
                    return self._sub(arg)
                if key == "Fn::Join":
                    separator, items = arg
                    return separator.join(str(self.resolve(item)) for item in items)
                if key == "Fn::If":
                    name, when_true, when_false = arg
                    return self.resolve(when_true if self.condition(name) else when_false)
                if key.startswith("Fn::"):
                    raise ProvisionError(f"intrinsic function {key} is not supported locally")
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not NO_VALUE]
        return value

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise ProvisionError(f"condition {name} is not declared by the template")
        return self._evaluate(self.conditions[name])

    def _evaluate(self, spec: dict[str, Any]) -> bool:
        ((key, arg),) = spec.items()
        if key == "Fn::Equals":
            first, second = (self.resolve(value) for value in arg)
            return str(first) == str(second)
        if key == "Fn::Not":
            return not self._evaluate(arg[0])
        if key == "Fn::And":
            return all(self._evaluate(item) for item in arg)
        if key == "Fn::Or":
            return any(self._evaluate(item) for item in arg)
        if key == "Condition":
            return self.condition(arg)
        raise ProvisionError(f"condition function {key} is not supported locally")

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.physical:
            return self.physical[name].ref
        raise ProvisionError(f"Ref to {name}, which is neither a parameter nor a resource created yet")

    def _get_att(self, logical_id: str, attribute: str) -> str:
        physical = self.physical.get(logical_id)
        if physical is None:
            raise ProvisionError(f"Fn::GetAtt of {logical_id}, which is not created yet")
        if attribute not in physical.attributes:
            raise ProvisionError(
                f"Fn::GetAtt {logical_id}.{attribute}: its applier does not provide that attribute"
            )
        return physical.attributes[attribute]

    def _sub(self, arg: str | list[Any]) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return self._get_att(*name.split(".", 1))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def references(value: Any) -> set[str]:
    """Names a template value refers to (resources, parameters and pseudo parameters alike)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref":
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {m.split(".", 1)[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                found |= references(arg[1:]) if isinstance(arg, list) else set()
            else:
                found |= references(arg)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def creation_order(resources: dict[str, Any]) -> list[str]:
    graph = {}
    for logical_id, spec in resources.items():
        depends_on = spec.get("DependsOn", [])
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        graph[logical_id] = (references(spec.get("Properties", {})) | set(depends_on)) & resources.keys()
    return list(graphlib.TopologicalSorter(graph).static_order())
