"""Whether a template variable can exist in items of a JSON schema (evals check it at create).

``{{item.a.b}}`` must follow ``properties`` (``items`` for a numeric step into an array). A part
of the schema that does not constrain what lies below it (no ``type``, ``additionalProperties``
set, ``anyOf``/``$ref`` and the like) accepts any path below it: ftapi refuses only what it
knows cannot exist.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.graders.templates import VariablePath

_SCALAR_TYPES = frozenset({"string", "number", "integer", "boolean", "null"})


def item_path_problem(schema: Mapping[str, object], variable: VariablePath) -> str | None:
    """Why ``variable`` cannot exist in items of ``schema``, or None when it may."""
    node: object = schema
    for depth, key in enumerate(variable.keys):
        if not isinstance(node, Mapping):
            return None
        where = ".".join(("item", *variable.keys[:depth]))
        properties = node.get("properties")
        extra = node.get("additionalProperties")
        items = node.get("items")
        if isinstance(properties, Mapping) and key in properties:
            node = properties[key]
        elif key.isdigit() and isinstance(items, Mapping):
            node = items
        elif isinstance(extra, Mapping):
            node = extra
        elif extra is True:
            return None
        elif isinstance(properties, Mapping) or extra is False:
            known = ", ".join(sorted(str(name) for name in properties or {})) or "none"
            return f"the item schema gives {where} no property '{key}' (it has: {known})"
        else:
            return _typed_node_problem(node.get("type"), where, key)
    return None


def _typed_node_problem(declared: object, where: str, key: str) -> str | None:
    if isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list):
        types = {str(name) for name in declared}
    else:
        types = set()
    if types and types <= _SCALAR_TYPES:
        return f"{where} is a {'/'.join(sorted(types))} in the item schema and has no fields"
    if types == {"array"} and not key.isdigit():
        return f"{where} is an array in the item schema; index it with a number"
    return None  # unconstrained (no type, or anyOf/$ref and the like): anything may be there
