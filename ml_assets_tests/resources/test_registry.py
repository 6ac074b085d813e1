"""Champion moves in the MLflow registry: the recorded history and what rollback goes back to."""

import json
import os
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from ml_assets.resources.champion_log import HISTORY_MAX_CHARS, HISTORY_TAG, ChampionLog, champion_stack, history_json
from ml_assets.resources.registry import CHAMPION, ModelRegistry, client_uri, is_remote


def moves(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"version": version, "move": move} for version, move in pairs]


def test_champion_stack_undoes_rollbacks():
    assert champion_stack(moves(("1", "gate"), ("2", "gate"), ("3", "promote"))) == ["1", "2", "3"]
    assert champion_stack(moves(("1", "gate"), ("2", "gate"), ("3", "gate"), ("2", "rollback"))) == ["1", "2"]
    history = moves(("1", "gate"), ("2", "gate"), ("3", "gate"), ("2", "rollback"), ("1", "rollback"))
    assert champion_stack(history) == ["1"]
    assert champion_stack(moves(("1", "gate"), ("1", "promote"))) == ["1"], "promoting the champion again is no move"
    assert champion_stack(moves(("4", "rollback"))) == ["4"], "a rollback to a trimmed-away version still counts"


def test_history_json_keeps_the_newest_moves_that_fit():
    history = [{"version": str(i), "move": "gate", "reason": "x" * 150} for i in range(100)]
    kept = json.loads(history_json(history))
    assert len(json.dumps(kept)) <= HISTORY_MAX_CHARS
    assert kept[-1]["version"] == "99" and len(kept) < 100


def test_is_remote():
    assert is_remote("http://127.0.0.1:5000") and is_remote("https://mlflow.example.com")
    assert not is_remote("sqlite:////tmp/mlflow.db")


def test_client_uri_moves_the_credentials_of_a_server_url_to_mlflows_variables(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "from-env")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "from-env")
    assert client_uri("https://ml%40user:p%3Aw%40rd@mlflow.example:8443/team") == "https://mlflow.example:8443/team"
    assert (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]) == ("ml@user", "p:w@rd")
    assert client_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "p:w@rd", "a URL without credentials leaves the variables"
    database = "postgresql://ml:secret@127.0.0.1:5432/mlflow"
    assert client_uri(database) == database, "a database store URI keeps its credentials (SQLAlchemy reads them)"


def test_registry_moves_its_credentials_once_not_on_every_uri_call(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "from-env")  # restored after the test
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "from-env")
    registry = ModelRegistry(tracking_uri="https://ops:s3cret@mlflow.example/team")
    assert registry.uri == "https://mlflow.example/team"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "s3cret"
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "changed-since")
    assert registry.uri == "https://mlflow.example/team"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "changed-since", "a second uri call leaves the variables"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite registry for the module (creating its tables takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"


@pytest.fixture
def model(store: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[ModelRegistry, str]:
    """A registered model of this test with three versions (no artifacts needed to move aliases)."""
    name = request.node.name
    client = MlflowClient(tracking_uri=store)
    client.create_registered_model(name)
    for _ in range(3):
        client.create_model_version(name, source=str(tmp_path))
    return ModelRegistry(tracking_uri=store), name


def test_gate_promotions_then_rollbacks_walk_back_through_champions(model: tuple[ModelRegistry, str]):
    registry, name = model
    for version in ("1", "2", "3"):
        ChampionLog(registry).move(name, version, "gate", f"beats v{int(version) - 1}")
    assert ChampionLog(registry).rollback(name, "v3 misbehaves") == "2"
    assert ChampionLog(registry).rollback(name, "v2 too") == "1"
    assert str(registry.version_by_alias(name, CHAMPION).version) == "1"
    with pytest.raises(ValueError, match="v1 is the first recorded champion"):
        ChampionLog(registry).rollback(name, "once more")
    assert [h["move"] for h in ChampionLog(registry).history(name)] == ["gate", "gate", "gate", "rollback", "rollback"]


def test_a_champion_set_before_the_history_is_kept_becomes_its_first_entry(model: tuple[ModelRegistry, str]):
    registry, name = model
    registry.set_alias(name, CHAMPION, "1")
    with pytest.raises(ValueError, match="no champion moves are recorded.*ml-assets promote"):
        ChampionLog(registry).rollback(name, "why")
    ChampionLog(registry).promote(name, "3", "manual")
    assert ChampionLog(registry).rollback(name, "back") == "1"
    assert [(h["version"], h["move"]) for h in ChampionLog(registry).history(name)] == [
        ("1", "unrecorded"), ("3", "promote"), ("1", "rollback")]


def test_rollback_refuses_when_the_alias_was_moved_outside(model: tuple[ModelRegistry, str]):
    registry, name = model
    ChampionLog(registry).move(name, "1", "gate", "first")
    ChampionLog(registry).move(name, "2", "gate", "better")
    registry.set_alias(name, CHAMPION, "3")
    with pytest.raises(ValueError, match="champion is v3 but the recorded history ends at v2"):
        ChampionLog(registry).rollback(name, "x")
    assert json.loads(registry.client.get_registered_model(name).tags[HISTORY_TAG])[-1]["version"] == "2"
