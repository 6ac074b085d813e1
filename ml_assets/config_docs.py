"""docs/configuration.md generated from the Pydantic spec: every field with its type, default and description.

Run `python -m ml_assets.config_docs` after changing ml_assets/spec.py (a test fails while the page is stale)."""

import inspect
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ml_assets.spec import PipelineSpec

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
HIDDEN = {"base_dir"}  # set by the loader, not written in a config
HEADER = """# Configuration reference

Generated from `ml_assets/spec.py` by `python -m ml_assets.config_docs`: do not edit by hand. A pipeline is one
YAML file (pipeline.yaml at the project root for the demo); `${VAR}` and `${VAR:-default}` in a value read the
environment after parsing (never in comments; the result stays a string; `$${VAR}` is the literal text `${VAR}`).
Unknown fields are errors; every error names the field path, the bad value and a suggestion.
`<name>` in a path stands for a key you choose (a column, a segment); `[]` for each item of a list.
"""


@dataclass(frozen=True)
class FieldDoc:
    """One row of the reference: dotted path, type, default and description."""

    path: str
    type: str
    default: str
    description: str


def type_name(annotation: Any) -> str:
    """A field's type as a reader writes it in YAML terms (str, int, list[str], one of 'a', 'b', ...)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{arg}`" for arg in args)
    if origin in (typing.Union, types.UnionType):
        names = list(dict.fromkeys(type_name(arg) for arg in args if arg is not type(None)))
        return " or ".join(names) + (" or empty" if type(None) in args else "")
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(type_name(arg) for arg in args)}]"
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def yaml_text(value: Any) -> str:
    """A default value as written in YAML."""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value is None:
        return "empty"
    if isinstance(value, dict) and any(isinstance(item, BaseModel) for item in value.values()):
        return "keys " + ", ".join(f"`{key}`" for key in value)
    if isinstance(value, BaseModel):
        return "see below"
    return f"`{value}`"


def default_value(field: FieldInfo) -> Any:
    """A field's default (called when it is a factory)."""
    return field.default_factory() if field.default_factory is not None else field.default


def variant(model: type[BaseModel]) -> str:
    """'kind `files`: ' for a model told apart by its `kind` literal, else ''."""
    kind = model.model_fields.get("kind")
    literal = typing.get_args(kind.annotation) if kind is not None else ()
    return f"kind `{literal[0]}`: " if literal else ""


def nested_models(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """(path suffix, model) of the sections a field holds: itself, list items, dict values or union variants."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [("", annotation)]
    if origin is list:
        return [("[]" + suffix, model) for suffix, model in nested_models(args[0])]
    if origin is dict:
        return [(".<name>" + suffix, model) for suffix, model in nested_models(args[1])]
    if origin in (typing.Union, types.UnionType):
        return [(suffix, model) for arg in args for suffix, model in nested_models(arg)]
    return []


def field_docs(model: type[BaseModel], prefix: str = "", defaults: BaseModel | None = None,
               note: str = "") -> list[FieldDoc]:
    """Every field of `model` and of the sections under it, depth first, in declaration order; `defaults` is
    the section's default instance when its parent gives one, `note` prefixes each description."""
    rows = []
    for name, field in model.model_fields.items():
        if name in HIDDEN:
            continue
        path = f"{prefix}{name}"
        value = getattr(defaults, name) if defaults is not None else default_value(field)
        default = "required" if defaults is None and field.is_required() else yaml_text(value)
        rows.append(FieldDoc(path, type_name(field.annotation), default,
                             note + (field.description or "")))
        sections = nested_models(field.annotation)
        for suffix, section in sections:
            given = value if isinstance(value, section) and not suffix else None
            rows += field_docs(section, f"{path}{suffix}.", given, variant(section) if len(sections) > 1 else "")
    return rows


def section_intros(model: type[BaseModel], prefix: str = "") -> dict[str, str]:
    """Dotted path of each section -> the first paragraph of its model's docstring."""
    intros = {}
    for name, field in model.model_fields.items():
        for suffix, section in nested_models(field.annotation):
            path = f"{prefix}{name}{suffix}"
            doc = inspect.getdoc(section) or ""
            intros.setdefault(path, " ".join(doc.split("\n\n")[0].split()))
            intros |= section_intros(section, f"{path}.")
    return intros


def cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The whole configuration page."""
    rows, intros = field_docs(PipelineSpec), section_intros(PipelineSpec)
    lines = [HEADER, "| field | type | default | description |", "| --- | --- | --- | --- |"]
    for row in rows:
        description = row.description or intros.get(row.path, "")
        lines.append(f"| `{row.path}` | {cell(row.type)} | {cell(row.default)} | {cell(description)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Write docs/configuration.md (or print it with --stdout)."""
    text = render()
    if "--stdout" in sys.argv:
        print(text, end="")
        return
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(text)
    print(f"wrote {PAGE} ({len(text.splitlines())} lines)")


if __name__ == "__main__":
    main()
