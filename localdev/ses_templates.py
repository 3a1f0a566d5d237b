"""SES templates rendered as SES renders them, for the local email printer (`make run`).

SES fills a stored template (GetTemplate: SubjectPart, TextPart, HtmlPart) with Handlebars. What
is rendered here: `{{name}}`, `{{{name}}}` and `{{& name}}` (all the same: SES escapes nothing,
not even in the HTML part), dotted names (`{{contact.firstName}}`, `this`, `../`), comments,
`{{#if}}` / `{{#unless}}` / `{{#each}}` with `{{else}}` (and `{{else if x}}`), `~` whitespace
control and Handlebars' standalone lines (a block tag alone on its line takes the line with it).
Anything else (partials, helpers with arguments, `{{#with}}`, inline partials, a block left open)
is kept as written, so the printed email shows the raw part instead of breaking.

A variable with no value renders empty, as Handlebars does; it is reported in `missing`, since
real SES does not send such an email (a Rendering Failure event), where moto sends it anyway.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_MISSING: Any = object()
_SEGMENT = r"(?:[\w$\-]+|\[[^\]]*\])"  # a name, or any text in brackets: `items.[0]`
_PATH = re.compile(rf"^(?:\.\./)*(?:this|\.|@?{_SEGMENT})(?:[./]{_SEGMENT})*$")
_BLOCKS = ("if", "unless", "each")


@dataclass(frozen=True)
class Rendered:
    text: str
    missing: tuple[str, ...] = ()  # names with no value: real SES refuses to render the email


def template_data(*documents: str | None) -> dict[str, Any]:
    """The JSON objects of the template data, each later one merged over the earlier ones at
    the top level (a destination's ReplacementTemplateData over the DefaultTemplateData).
    Raises ValueError if one is not a JSON object."""
    data: dict[str, Any] = {}
    for document in documents:
        if document is None or not document.strip():
            continue
        parsed = json.loads(document)
        if not isinstance(parsed, dict):
            raise ValueError(f"template data is not a JSON object: {document[:80]!r}")
        data.update(parsed)
    return data


def render(template: str, data: Mapping[str, Any]) -> Rendered:
    """The template filled with the data; as written if it cannot be (never raises)."""
    missing: list[str] = []
    try:
        nodes = _Parser(template).parse()
        text = "".join(_render(nodes, [data], {}, missing))
    except Exception:  # a renderer bug must not hide the email: show the template as written
        return Rendered(template)
    return Rendered(text, tuple(dict.fromkeys(missing)))


# --- tokens -------------------------------------------------------------------------------------


@dataclass
class _Tag:
    kind: str  # var, open, close, else, comment, raw
    body: str  # what is inside the braces, without `~`, `#`, `/`
    start: int
    end: int
    ltrim: bool = False
    rtrim: bool = False

    @property
    def words(self) -> list[str]:
        return self.body.split()


_Token = str | _Tag


def _tokens(template: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while True:
        start = template.find("{{", pos)
        if start < 0:
            tokens.append(template[pos:])
            break
        if start > 0 and template[start - 1] == "\\":  # `\{{x}}`: a literal `{{x}}`
            end = template.find("}}", start)
            end = len(template) if end < 0 else end + 2
            tokens.append(template[pos : start - 1] + template[start:end])
            pos = end
            continue
        tag = _tag(template, start)
        if tag is None:  # never closed: the rest is text
            tokens.append(template[pos:])
            break
        tokens += [template[pos:start], tag]
        pos = tag.end
    _trim(tokens)
    return [token for token in tokens if token != ""]


def _tag(template: str, start: int) -> _Tag | None:
    if template.startswith("{{{", start):
        end = template.find("}}}", start + 3)
        if end < 0:
            return None
        inner, end = template[start + 3 : end], end + 3
        ltrim, rtrim = inner.startswith("~"), inner.endswith("~")
        return _Tag("var", inner.strip("~").strip(), start, end, ltrim, rtrim)
    long_comment = re.match(r"\{\{~?!--", template[start:])
    close = "--}}" if long_comment else "}}"
    end = template.find(close, start + 2)
    if end < 0:
        return None
    end += len(close)
    inner = template[start + 2 : end - 2]
    ltrim, rtrim = inner.startswith("~"), inner.endswith("~")
    inner = inner.strip("~").strip()
    if inner.startswith("!"):
        return _Tag("comment", inner, start, end, ltrim, rtrim)
    if inner.startswith("#"):
        return _Tag("open", inner[1:].strip(), start, end, ltrim, rtrim)
    if inner.startswith("/"):
        return _Tag("close", inner[1:].strip(), start, end, ltrim, rtrim)
    if inner in {"^", "else"} or inner.startswith("else "):
        return _Tag("else", inner[4:].strip() if inner != "^" else "", start, end, ltrim, rtrim)
    if inner.startswith("&"):
        inner = inner[1:].strip()
    if _PATH.match(inner):
        return _Tag("var", inner, start, end, ltrim, rtrim)
    return _Tag("raw", inner, start, end, ltrim, rtrim)  # partials, helpers, `{{^x}}`…


def _trim(tokens: list[_Token]) -> None:
    """A block tag, `{{else}}` or a comment alone on its line takes that line's indentation and
    line break (Handlebars' standalone rule, judged on the text as written); then `~` takes all
    the whitespace on its side. A tag is always between two texts (maybe empty)."""
    original = list(tokens)
    last = len(original) - 1
    for index, token in enumerate(original):
        if not isinstance(token, _Tag) or token.kind not in ("open", "close", "else", "comment"):
            continue
        prev_text, next_text = str(original[index - 1]), str(original[index + 1])
        line_start = re.search(r"(?:^|\n)[ \t]*$" if index == 1 else r"\n[ \t]*$", prev_text)
        line_end = re.match(r"[ \t]*\r?\n" if index + 1 < last else r"[ \t]*(?:\r?\n|$)", next_text)
        if line_start and line_end:
            current = str(tokens[index - 1])
            tokens[index - 1] = current[: len(current.rstrip(" \t"))]
            tokens[index + 1] = str(tokens[index + 1])[line_end.end() :]
    for index, token in enumerate(original):
        if isinstance(token, _Tag) and token.ltrim:
            tokens[index - 1] = str(tokens[index - 1]).rstrip()
        if isinstance(token, _Tag) and token.rtrim:
            tokens[index + 1] = str(tokens[index + 1]).lstrip()


# --- tree ---------------------------------------------------------------------------------------


@dataclass
class _Block:
    helper: str  # if, unless, each
    path: str
    body: list[Any] = field(default_factory=list)
    inverse: list[Any] = field(default_factory=list)


@dataclass
class _Var:
    path: str


class _Parser:
    def __init__(self, template: str) -> None:
        self._template = template
        self._tokens = _tokens(template)
        self._at = 0

    def parse(self) -> list[Any]:
        nodes, _ = self._nodes(None)
        return nodes

    def _raw(self, tag: _Tag) -> str:
        return self._template[tag.start : tag.end]

    def _nodes(self, closing: str | None) -> tuple[list[Any], _Tag | None]:
        """Nodes up to this block's `{{else}}` or `{{/closing}}` (returned), or to the end."""
        nodes: list[Any] = []
        while self._at < len(self._tokens):
            token = self._tokens[self._at]
            self._at += 1
            if isinstance(token, str):
                nodes.append(token)
            elif token.kind == "var":
                nodes.append(_Var(token.body))
            elif token.kind == "comment":
                continue
            elif (token.kind == "close" and token.body == closing) or (
                token.kind == "else" and closing is not None
            ):
                return nodes, token
            elif token.kind == "open" and self._known(token.words):
                nodes += self._block(token, token.words[0], token.words[1], closing=token.words[0])[0]
            elif token.kind == "open":
                nodes.append(self._unknown_block(token))
            else:  # raw tags, a stray `{{/x}}` or `{{else}}`
                nodes.append(self._raw(token))
        return nodes, None

    def _rest(self, closing: str) -> tuple[list[Any], bool]:
        """Nodes up to `{{/closing}}`, a further `{{else}}` kept as written; and if it came."""
        nodes: list[Any] = []
        while True:
            more, end = self._nodes(closing)
            nodes += more
            if end is None or end.kind == "close":
                return nodes, end is not None
            nodes.append(self._raw(end))

    @staticmethod
    def _known(words: list[str]) -> bool:
        return len(words) == 2 and words[0] in _BLOCKS and bool(_PATH.match(words[1]))

    def _block(self, opening: _Tag, helper: str, path: str, closing: str) -> tuple[list[Any], bool]:
        """The block as one node, and True; or, if it is never closed, its tags as written and
        its contents rendered, and False."""
        block = _Block(helper, path)
        block.body, end = self._nodes(closing)
        closed = end is not None
        if end is not None and end.kind == "else":
            words = end.body.split()
            if not words:
                block.inverse, closed = self._rest(closing)
            elif self._known(words) and words[0] != "each":  # `{{else if x}}`: a chain
                block.inverse, closed = self._block(end, words[0], words[1], closing)
            else:
                rest, closed = self._rest(closing)
                block.inverse = [self._raw(end), *rest]
        if not closed:
            return [self._raw(opening), *block.body, *block.inverse], False
        return [block], True

    def _unknown_block(self, opening: _Tag) -> str:
        """A block this renderer does not know (`{{#with}}`, `{{#*inline}}`…), as written, up to
        its matching close; only its opening tag if it has none."""
        name = opening.words[0].lstrip("*") if opening.words else ""
        depth, at = 1, self._at
        while at < len(self._tokens):
            token = self._tokens[at]
            at += 1
            if isinstance(token, _Tag) and token.kind == "open" and token.words:
                depth += token.words[0].lstrip("*") == name
            elif isinstance(token, _Tag) and token.kind == "close" and token.body == name:
                depth -= 1
                if depth == 0:
                    self._at = at
                    return self._template[opening.start : token.end]
        return self._raw(opening)


# --- rendering ----------------------------------------------------------------------------------


def _render(nodes: list[Any], stack: list[Any], frame: dict[str, Any], missing: list[str]) -> list[str]:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Var):
            value = _lookup(node.path, stack, frame)
            if value is _MISSING:
                missing.append(node.path)
            out.append(_text(value))
        elif node.helper == "each":
            out += _each(node, stack, frame, missing)
        else:
            chosen = _truthy(_lookup(node.path, stack, frame)) == (node.helper == "if")
            out += _render(node.body if chosen else node.inverse, stack, frame, missing)
    return out


def _each(node: _Block, stack: list[Any], frame: dict[str, Any], missing: list[str]) -> list[str]:
    value = _lookup(node.path, stack, frame)
    items: list[tuple[Any, Any]] = (
        list(value.items())
        if isinstance(value, dict)
        else list(enumerate(value))
        if isinstance(value, list)
        else []
    )
    if not items:
        return _render(node.inverse, stack, frame, missing)
    out: list[str] = []
    for position, (key, item) in enumerate(items):
        data = {"index": position, "key": key, "first": position == 0, "last": position == len(items) - 1}
        out += _render(node.body, [*stack, item], data, missing)
    return out


def _lookup(path: str, stack: list[Any], frame: dict[str, Any]) -> Any:
    if path == "@root" or path.startswith(("@root.", "@root/")):
        path, stack = path[5:], stack[:1]
    elif path.startswith("@"):
        return frame.get(path[1:], _MISSING)
    depth = 1
    while path.startswith("../"):
        path, depth = path[3:], depth + 1
    if depth > len(stack):
        return _MISSING
    value = stack[-depth]
    parts = [name or literal for literal, name in re.findall(r"\[([^\]]*)\]|([^./\[]+)", path)]
    if parts and parts[0] == "this":
        parts = parts[1:]
    for part in parts:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _truthy(value: Any) -> bool:
    """Handlebars' `if`: false, null, missing, "", 0 and [] are false; {} is true."""
    if value is _MISSING or value is None or value is False:
        return False
    if isinstance(value, int | float) and value == 0:
        return False
    return not (isinstance(value, str | list) and len(value) == 0)


def _text(value: Any) -> str:
    """A value as JavaScript writes it (SES renders with Handlebars.js)."""
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)
