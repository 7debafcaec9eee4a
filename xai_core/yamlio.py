"""YAML for specs: PyYAML's safe loader, with YAML 1.2 booleans.

`yaml.safe_load` follows YAML 1.1, where `yes`, `no`, `on` and `off` are booleans: class names
`[no, yes]` would become `[False, True]`. `SpecLoader` is `yaml.SafeLoader` (no Python objects
are ever built) with only `true` / `false` resolved as booleans, as YAML 1.2 does.
"""
from __future__ import annotations

import re

import yaml


class SpecLoader(yaml.SafeLoader):
    """yaml.SafeLoader with YAML 1.2 booleans (true/false only)."""


SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
SpecLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))


def load_yaml(text: str):
    """Parse YAML text safely (plain data only), with YAML 1.2 booleans."""
    return yaml.load(text, Loader=SpecLoader)  # SpecLoader is a yaml.SafeLoader: no object construction
