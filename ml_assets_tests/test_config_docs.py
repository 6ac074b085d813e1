"""docs/configuration.md is generated from the spec, complete, and up to date."""

from ml_assets import config_docs
from ml_assets.spec import DriftSpec


def test_the_committed_page_matches_the_spec() -> None:
    assert config_docs.PAGE.read_text() == config_docs.render(), \
        "docs/configuration.md is out of date: run `.venv/bin/python -m ml_assets.config_docs`"


def test_every_field_has_a_type_a_default_and_a_description() -> None:
    rows = config_docs.field_docs(config_docs.PipelineSpec)
    undocumented = [row.path for row in rows
                    if not (row.description or config_docs.section_intros(config_docs.PipelineSpec).get(row.path))]
    assert undocumented == []
    assert all(row.type and row.default for row in rows)


def test_a_nested_field_shows_its_own_type_default_and_description() -> None:
    rows = {row.path: row for row in config_docs.field_docs(config_docs.PipelineSpec)}
    field = DriftSpec.model_fields["window_days"]
    assert rows["drift.window_days"] == config_docs.FieldDoc("drift.window_days", "int", f"`{field.default}`",
                                                             field.description)
    assert rows["drift.psi.high"].default == "`0.25`", "defaults of a section come from the section's default"
    assert rows["dataset.end_date"].default == "empty"
    assert rows["dataset.source.query"].description.startswith("kind `sql`: ")
