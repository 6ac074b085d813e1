"""Config loading: env substitution, paths, and errors that name the field and suggest a fix."""

from pathlib import Path

import pytest
import yaml

from ml_assets.spec import ConfigError, RetriesSpec, load_spec, parse_spec, substitute_env
from ml_assets_tests.conftest import PROJECT_ROOT, demo_config


def test_project_config_loads_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_ASSETS_HOME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = load_spec(PROJECT_ROOT / "pipeline.yaml")
    assert spec.segment_names == ["domestic", "industrial"]
    assert spec.lake_dir == PROJECT_ROOT / "data" / "lake"
    assert spec.tracking_uri == f"sqlite:///{PROJECT_ROOT / 'data' / 'mlflow' / 'mlflow.db'}"
    assert "days_late_avg_6m" in spec.feature_columns() and "region" in spec.feature_columns()
    assert spec.model.params_for("industrial")["max_depth"] == 3
    assert spec.model.params_for("domestic")["max_depth"] == 4


def test_env_substitution_uses_value_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_HOME", "/srv/x")
    assert substitute_env({"a": "${SOME_HOME:-data}/lake"}) == {"a": "/srv/x/lake"}
    monkeypatch.delenv("SOME_HOME")
    assert substitute_env({"a": ["${SOME_HOME:-data}"]}) == {"a": ["data"]}
    assert substitute_env({"a": "${SOME_HOME:-}"}) == {"a": None}, "an empty whole value is null, as in YAML"
    with pytest.raises(ConfigError, match=r"^a\.b\[1\]: environment variable SOME_HOME is not set"):
        substitute_env({"a": {"b": ["x", "${SOME_HOME}"]}})


def write_with_experiment(tmp_path: Path, experiment: str, comment: str = "") -> Path:
    """The demo config written to tmp_path with `mlflow.experiment: <experiment>` (raw YAML) below a comment line."""
    raw = demo_config(tmp_path)
    raw.pop("mlflow", None)
    text = yaml.safe_dump(raw, sort_keys=False) + f"mlflow:\n  {comment}\n  experiment: {experiment}\n"
    (tmp_path / "pipeline.yaml").write_text(text)
    return tmp_path / "pipeline.yaml"


def test_substitution_skips_comments_and_keeps_yaml_syntax_a_string(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNSET_IN_COMMENT", raising=False)
    monkeypatch.setenv("ODD_NAME", "risk: {a: [1, 2]} # not a comment")
    config = write_with_experiment(tmp_path, "${ODD_NAME}", comment="# ${UNSET_IN_COMMENT} would fail if substituted")
    assert load_spec(config).mlflow.experiment == "risk: {a: [1, 2]} # not a comment"


def test_an_unset_variable_names_the_file_the_field_and_the_variable(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_HOME", raising=False)
    config = write_with_experiment(tmp_path, "${NO_SUCH_HOME}/x")
    with pytest.raises(ConfigError) as error:
        load_spec(config)
    assert str(error.value) == (f"{config}: mlflow.experiment: environment variable NO_SUCH_HOME is not set and has no "
                                "default; export NO_SUCH_HOME=... or write ${NO_SUCH_HOME:-value} in the config")


def test_a_doubled_dollar_keeps_the_text_literal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITERAL", "substituted")
    spec = load_spec(write_with_experiment(tmp_path, "risk-$${LITERAL}-${LITERAL}"))
    assert spec.mlflow.experiment == "risk-${LITERAL}-substituted"


def test_secret_fields_written_as_a_variable_are_recorded_by_name(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKING", "http://user:pw@127.0.0.1:5000")
    monkeypatch.delenv("UNSET_HOOK", raising=False)
    raw = demo_config(tmp_path, mlflow={"tracking_uri": "${TRACKING}"},
                      monitoring={"alerts": {"webhook_url": "${UNSET_HOOK:-}"}})
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    spec = load_spec(tmp_path / "pipeline.yaml")
    assert spec.secret_env == {"mlflow.tracking_uri": "TRACKING"}, "an unset variable is no EnvVar"
    assert spec.tracking_uri == "http://user:pw@127.0.0.1:5000" and spec.monitoring.alerts.webhook_url is None


def test_env_overrides_storage_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_ASSETS_HOME", str(tmp_path / "elsewhere"))
    spec = load_spec(PROJECT_ROOT / "pipeline.yaml")
    assert spec.lake_dir == tmp_path / "elsewhere" / "lake"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["dataset"].update(segmnt=c["dataset"].pop("segment")),
         "dataset.segmnt: unknown field (value 'tariff'); did you mean 'segment'?"),
        (lambda c: c["features"].update(categorical=["regoin"]),
         "features.categorical[0]: column 'regoin' not found; did you mean 'region'?"),
        (lambda c: c["dataset"].update(target="defaulter"),
         "dataset.target: column 'defaulter' not found; did you mean 'defaulted'?"),
        (lambda c: c["model"].update(segment_params={"industrail": {"max_depth": 2}}),
         "model.segment_params: segment 'industrail' not found; did you mean 'industrial'?"),
        (lambda c: c["training"].update(min_auc=1.5), "training.min_auc: Input should be less than or equal to 1"),
        (lambda c: c["storage"].update(chunk_days=0), "storage.chunk_days: Input should be greater than or equal to 1"),
        (lambda c: c["clustering"].update(labels=["a", "b"]), "labels has 2 entries but 3 quantiles"),
        (lambda c: c["dataset"].update(source={"kind": "sql", "url": "duckdb:///x.db", "query": "SELECT * FROM t"}),
         "query must filter on the partition range with :start and :end"),
        (lambda c: c["dataset"].update(source={"kind": "ftp", "path": "x"}), "dataset.source: Input tag 'ftp'"),
        (lambda c: c["dataset"].update(rules={"amont": {"min": 0}}),
         "dataset.rules.amont: column 'amont' not found; did you mean 'amount'?"),
        (lambda c: c["clustering"]["arrears"].update(column="arrear"),
         "clustering.arrears.column: column 'arrear' not found; did you mean 'arrears'?"),
        (lambda c: c["clustering"]["arrears"].update(min_category="hihg"),
         "clustering.arrears.min_category: label 'hihg' not found; did you mean 'high'?"),
        (lambda c: c["clustering"]["arrears"].update(min_category=None, label=None),
         "the arrears rule needs a label, a min_category or both"),
        (lambda c: c["scoring"]["reason_codes"].update(categories=["high", "very_hihg"]),
         "scoring.reason_codes.categories[1]: label 'very_hihg' not found; did you mean 'very_high'?"),
        (lambda c: c["scoring"].update(report_columns=["invoice_id", "risk_clustr"]),
         "scoring.report_columns[1]: column 'risk_clustr' not found; did you mean 'risk_cluster'?"),
        (lambda c: c["clustering"].update(cutpoints="daily"), "clustering.cutpoints: Input should be 'model' or 'batch'"),
        (lambda c: c.update(retries={"max_retries": 5, "request_timeout_s": 30}),
         "retries: the worst case of an outage is 294 s (max_retries 5, delay_s 2.0, request_timeout_s 30, "
         "request_retries 0) > max_total_s 60.0; lower them or raise max_total_s"),
        (lambda c: c["scoring"].update(unknown_segments="fail"), "scoring.unknown_segments: Input should be 'warn' or"),
    ],
)
def test_bad_config_names_field_value_and_suggestion(tmp_path: Path, mutate, expected: str) -> None:
    config = demo_config(tmp_path)
    mutate(config)
    with pytest.raises(ConfigError) as error:
        parse_spec(config, base_dir=tmp_path)
    assert expected in str(error.value)


def test_missing_file_and_bad_yaml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_spec(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(broken)


def test_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config_path = tmp_path / "cfg" / "p.yaml"
    config_path.parent.mkdir()
    config_path.write_text(yaml.safe_dump(demo_config(tmp_path)))
    spec = load_spec(config_path)
    assert spec.lake_dir == tmp_path / "cfg" / "out" / "lake"
    assert spec.registered_model_name("domestic") == "utility_risk-domestic"


def test_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    """YAML keeps the later of two equal keys silently; the loader refuses them, naming both lines."""
    text = (PROJECT_ROOT / "pipeline.yaml").read_text()
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  label_delay_days:")) + 1
    config = tmp_path / "pipeline.yaml"
    config.write_text(text.replace("  segment: tariff\n", "  segment: tariff\n  label_delay_days: 30\n", 1))
    second = next(i for i, line in enumerate(config.read_text().splitlines()) if "label_delay_days: 30" in line) + 1
    with pytest.raises(ConfigError) as error:
        load_spec(config)
    assert f"duplicate key 'label_delay_days' on lines {first} and {second}; keep one of them" in str(error.value)


def test_default_retries_bound_an_outage_by_a_minute() -> None:
    """The defaults: three attempts of a step, each ended by one request's timeout, plus Dagster's backoff."""
    retries = RetriesSpec()
    assert retries.worst_case_s() == 3 * retries.request_timeout_s + retries.delay_s * (1 + 3) <= 60
