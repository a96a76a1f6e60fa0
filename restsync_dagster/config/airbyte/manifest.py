"""Reading an Airbyte declarative manifest the way the Airbyte CDK does, before any mapping.

`$ref` / "#/..." references inlined, `$parameters` passed down and filled in, and the Jinja
expressions restsync can translate recognised: `{{ config['x'] }}`, `{{ parameters.x }}`,
`{{ stream_partition.x }}`, `{{ response.a.b }}`, `{{ headers.link.next.url }}`, ISO 8601 durations.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
import re
from typing import Any, Collection, Optional

from restsync_dagster.config.errors import RestsyncError

CONFIG_REF = re.compile(r"""\{\{\s*config(?:\[\s*['"]([A-Za-z0-9_]+)['"]\s*\]|\.([A-Za-z0-9_]+))\s*\}\}""")
PARAM_REF = re.compile(r"""\{\{\s*parameters(?:\[\s*['"]([A-Za-z0-9_]+)['"]\s*\]|\.([A-Za-z0-9_]+))\s*\}\}""")
PARTITION_REF = re.compile(
    r"""\{\{\s*stream_(?:partition|slice)(?:\[\s*['"]([A-Za-z0-9_]+)['"]\s*\]|\.([A-Za-z0-9_]+))\s*\}\}"""
)
RESPONSE_PATH = re.compile(
    r"""^\{\{\s*response((?:\.[A-Za-z0-9_@]+|\[\s*['"][^'"]+['"]\s*\]|\.get\(\s*['"][^'"]+['"]\s*\))+)\s*\}\}$"""
)
HEADER_LINK = re.compile(r"""^\{\{\s*headers(?:\.link|\[\s*['"]link['"]\s*\])(?:\.next|\[\s*['"]next['"]\s*\])(?:\.url|\[\s*['"]url['"]\s*\])\s*\}\}$""")
DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")

# --- references and parameters ----------------------------------------------------------------


def resolve_references(manifest: dict[str, Any]) -> dict[str, Any]:
    """Inline `$ref: "#/a/b"` (siblings override the referenced keys) and "#/a/b" string references."""

    def lookup(pointer: str) -> Any:
        node: Any = manifest
        for part in pointer.lstrip("#").strip("/").split("/"):
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def walk(node: Any, depth: int = 0) -> Any:
        if depth > 50:
            raise RestsyncError("manifest references nest deeper than 50 levels (a reference cycle?)")
        if isinstance(node, dict):
            if "$ref" in node:
                base = walk(copy.deepcopy(lookup(node["$ref"])), depth + 1)
                own = {k: walk(v, depth + 1) for k, v in node.items() if k != "$ref"}
                return _deep_merge(base, own)
            return {k: walk(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, depth + 1) for v in node]
        if isinstance(node, str) and node.startswith("#/"):
            try:
                return walk(copy.deepcopy(lookup(node)), depth + 1)
            except (KeyError, IndexError, ValueError):
                return node
        return node

    return walk(manifest)


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base.get(key), value) if key in base else value
        return merged
    return override


def propagate_parameters(node: Any, inherited: Optional[dict[str, Any]] = None) -> Any:
    """Airbyte's `$parameters`: passed down to every sub-component, `{{ parameters.x }}` filled in."""
    parameters = dict(inherited or {})
    if isinstance(node, dict):
        parameters.update(node.get("$parameters") or {})
        result = {k: propagate_parameters(v, parameters) for k, v in node.items() if k != "$parameters"}
        for key in ("name", "primary_key", "path"):  # a stream/requester may take these from parameters
            if key not in result and key in parameters and _is_component(result, key):
                result[key] = parameters[key]
        return result
    if isinstance(node, list):
        return [propagate_parameters(v, parameters) for v in node]
    if isinstance(node, str):
        return PARAM_REF.sub(lambda m: str(parameters.get(m.group(1) or m.group(2), m.group(0))), node)
    return node


def _is_component(node: dict[str, Any], key: str) -> bool:
    kind = node.get("type")
    if key in ("name", "primary_key"):
        return kind == "DeclarativeStream" or "retriever" in node
    return kind == "HttpRequester" or "url_base" in node


# --- expressions ---------------------------------------------------------------------------------


def placeholders(value: Any, secret: bool, secret_keys: Collection[str] = ()) -> Any:
    """`{{ config['x'] }}` -> `${secrets.x}` (auth, or a key the spec marks `airbyte_secret`) or
    `${config.x}`; other Jinja is left for the caller to flag."""
    if not isinstance(value, str):
        return value

    def placeholder(match: "re.Match[str]") -> str:
        name = match.group(1) or match.group(2)
        return "${%s.%s}" % ("secrets" if secret or name in secret_keys else "config", name)

    return CONFIG_REF.sub(placeholder, value)


def has_jinja(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def iso_duration_seconds(text: str) -> Optional[float]:
    match = DURATION.match(str(text).strip())
    if not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def response_path(expression: str) -> Optional[str]:
    """`{{ response._links.next.href }}` -> `_links.next.href`; `{{ response.get('@odata.nextLink') }}` -> `['@odata.nextLink']`."""
    match = RESPONSE_PATH.match(expression.strip())
    if not match:
        return None
    parts = re.findall(r"""\.get\(\s*['"]([^'"]+)['"]\s*\)|\[\s*['"]([^'"]+)['"]\s*\]|\.([A-Za-z0-9_@]+)""", match.group(1))
    names = [a or b or c for a, b, c in parts]
    if any(not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", n) for n in names):
        return "".join(f"['{n}']" for n in names)  # JSONPath quoting for keys like '@odata.nextLink'
    return ".".join(names)


def split_url(url: Any) -> tuple[Optional[str], Optional[str]]:
    if not isinstance(url, str) or not url:
        return None, None
    match = re.match(r"^(https?://[^/]+)(/.*)?$", url)
    return (match.group(1), match.group(2) or "/") if match else (None, url)


def _spec_properties(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = (manifest.get("spec") or {}).get("connection_specification") or {}
    return {k: v for k, v in (spec.get("properties") or {}).items() if isinstance(v, dict)}


def spec_defaults(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: v["default"] for k, v in _spec_properties(manifest).items() if "default" in v}


def spec_secrets(manifest: dict[str, Any]) -> frozenset[str]:
    """Config keys the manifest's spec marks `airbyte_secret`: secrets wherever a template uses them."""
    return frozenset(k for k, v in _spec_properties(manifest).items() if v.get("airbyte_secret"))




# --- Jinja access chains ---------------------------------------------------------------------------

_STEP = re.compile(
    r"""\s*(?:\.get\(\s*['"]([^'"]+)['"]\s*(,[^)]*)?\)|\[\s*['"]([^'"]+)['"]\s*\]|\.([A-Za-z_@][A-Za-z0-9_@]*))"""
)
_BLOCK = re.compile(r"\{\{(.*?)\}\}", re.S)


@dataclass(frozen=True)
class Chain:
    """`{{ root.get('a', {})['b'].c | f(...) or 'x' }}` read apart: `keys` ['a', 'b', 'c'], `defaulted`
    (a `.get`, `| default(...)` or `or ...` gives a value when a key is missing), `rest` the filters
    and operators after the chain ('| f(...)', "or 'x'"), '' when the chain is the whole expression."""

    keys: tuple[str, ...]
    defaulted: bool
    rest: str


def access_chain(expression: str, root: str) -> Optional[Chain]:
    """The access chain of a Jinja expression (with or without its `{{ }}`) starting at `root`."""
    text = expression.strip()
    if text.startswith("{{") and text.endswith("}}"):
        text = text[2:-2]
    text = text.strip()
    if not re.match(rf"^{re.escape(root)}(?![A-Za-z0-9_])", text):
        return None
    position, keys, defaulted = len(root), [], False
    while True:
        match = _STEP.match(text, position)
        if not match or match.end() == position:
            break
        get_key, get_default, item, attribute = match.groups()
        if get_key is not None:
            defaulted = True
            keys.append(get_key)
        else:
            keys.append(item if item is not None else attribute)
        position = match.end()
    if not keys:
        return None
    rest = text[position:].strip()
    if re.match(r"^(\|\s*default\b|or\b)", rest):
        defaulted = True
    return Chain(tuple(keys), defaulted, rest)


def jinja_blocks(value: str) -> list[str]:
    """The expressions of the `{{ ... }}` blocks of a text."""
    return [m.group(1) for m in _BLOCK.finditer(value)]


def substitute_blocks(value: str, replace: Any) -> str:
    """Each `{{ expr }}` block replaced by `replace(expr)` (None keeps the block)."""

    def one(match: "re.Match[str]") -> str:
        new = replace(match.group(1))
        return match.group(0) if new is None else new

    return _BLOCK.sub(one, value)


# --- what the mappers read ---------------------------------------------------------------------------


class Tracked(dict):  # type: ignore[type-arg]
    """A manifest mapping that records which of its keys a mapper read (`read`), so the import can
    list every key nothing consumed (`unread`)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[Any] = set()

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: Any) -> bool:
        self.read.add(key)
        return super().__contains__(key)

    def items(self) -> Any:
        self.read.update(self.keys())
        return super().items()

    def values(self) -> Any:
        self.read.update(self.keys())
        return super().values()


def track(node: Any) -> Any:
    """The manifest (part) with every mapping a `Tracked`."""
    if isinstance(node, dict):
        return Tracked({k: track(v) for k, v in dict.items(node)})
    if isinstance(node, list):
        return [track(v) for v in node]
    return node


def plain(node: Any) -> Any:
    """Plain dicts and lists again (what YAML writes and pydantic reads), nothing marked read."""
    if isinstance(node, dict):
        return {k: plain(v) for k, v in dict.items(node)}
    if isinstance(node, (list, tuple)):
        return [plain(v) for v in node]
    return node


def mark_read(node: Any) -> None:
    """Mark a whole subtree consumed (a mapper noted it as one construct)."""
    if isinstance(node, Tracked):
        node.read.update(node.keys())
        for value in dict.values(node):
            mark_read(value)
    elif isinstance(node, list):
        for value in node:
            mark_read(value)


def unread(node: Any, path: str) -> list[str]:
    """`path.key (type X)` of every key of a tracked subtree no mapper read; a mapping read as a
    whole but none of whose keys was read is one entry. A mapping's `type` alone is never listed."""
    found: list[str] = []
    if isinstance(node, Tracked):
        for key, value in dict.items(node):
            where = f"{path}.{key}" if path else str(key)
            if key not in node.read:
                if key != "type":
                    found.append(describe(where, value))
            elif isinstance(value, Tracked) and value and not value.read:
                found.append(describe(where, value))
            else:
                found += unread(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, Tracked) and value and not value.read:
                found.append(describe(f"{path}[{index}]", value))
            else:
                found += unread(value, f"{path}[{index}]")
    return found


def describe(path: str, value: Any) -> str:
    if isinstance(value, dict) and dict.get(value, "type"):
        return f"{path} ({dict.get(value, 'type')})"
    if isinstance(value, (dict, list)):
        return path
    text = repr(value)
    return f"{path} = {text[:80] + '...' if len(text) > 80 else text}"


def spec_required(manifest: dict[str, Any]) -> Optional[frozenset[str]]:
    """The spec's required config keys; None when the manifest has no connection_specification."""
    spec = (manifest.get("spec") or {}).get("connection_specification")
    if not isinstance(spec, dict):
        return None
    return frozenset(str(k) for k in spec.get("required") or [])
