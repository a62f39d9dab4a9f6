"""Check every value of a composed config against the rules of its structured schema."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from tunnellab.config.rules import RULE_KEY, Rule
from tunnellab.errors import ConfigError


def _rules_of(node: DictConfig) -> Iterator[tuple[str, Rule]]:
    schema = OmegaConf.get_type(node)
    if schema is None or not dataclasses.is_dataclass(schema):
        return
    for f in dataclasses.fields(schema):
        rule = f.metadata.get(RULE_KEY)
        if rule is not None:
            yield f.name, rule


def _walk(node: DictConfig, prefix: str) -> Iterator[tuple[str, DictConfig]]:
    yield prefix, node
    for key in node:
        if OmegaConf.is_missing(node, key) or (prefix == "" and key == "hydra"):
            continue
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            yield from _walk(child, f"{prefix}{key}.")


def config_problems(cfg: DictConfig) -> list[str]:
    """One sentence per value that breaks its rule, missing value or broken interpolation."""
    problems: list[str] = []
    for prefix, node in _walk(cfg, ""):
        rules = dict(_rules_of(node))
        for key in node:
            if prefix == "" and key == "hydra":
                continue
            if OmegaConf.is_missing(node, key):
                rule = rules.get(str(key))
                allowed = f" {prefix}{key} must be {rule.allowed()}." if rule else ""
                problems.append(
                    f"'{prefix}{key}' has no value; set it (e.g. {prefix}{key}=...).{allowed}"
                )
        for key, rule in _rules_of(node):
            full_key = f"{prefix}{key}"
            try:
                value = node[key]
            except MissingMandatoryValue:
                continue
            except InterpolationResolutionError as err:
                problems.append(f"'{full_key}' cannot be resolved: {err}.")
                continue
            if not rule.check(value):
                problems.append(
                    f"'{full_key}={value}' is not allowed; {full_key} must be {rule.allowed()}."
                )
    return problems


def validate_config(cfg: DictConfig) -> DictConfig:
    """Raise :class:`ConfigError` naming every bad key, its value and what is allowed."""
    problems = config_problems(cfg)
    if problems:
        raise ConfigError("Invalid configuration: " + " ".join(problems))
    return cfg
