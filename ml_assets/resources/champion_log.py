"""The champion audit log: every move of the `champion` alias (by the gate, a promotion or a rollback) recorded
with its reason, user and time on the registered model, and rollback walking back through it."""

import getpass
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from mlflow.exceptions import MlflowException

from ml_assets.resources.registry import CHAMPION, ModelRegistry

HISTORY_TAG = "champion_history"
HISTORY_MAX_CHARS = 5000  # registered-model tag values are VARCHAR(5000) in MLflow's SQL stores


@dataclass(frozen=True)
class ChampionLog:
    """Moves the champion alias of a registry's models and keeps their history in a registered-model tag."""

    registry: ModelRegistry

    def history(self, name: str) -> list[dict[str, str]]:
        """The champion moves recorded on the registered model, oldest first."""
        try:
            tags = self.registry.client.get_registered_model(name).tags
        except MlflowException:
            return []
        return json.loads(tags.get(HISTORY_TAG, "[]"))

    def move(self, name: str, version: str, move: str, reason: str) -> None:
        """Point `champion` at `version`; record the move, reason and user on the version and in the history."""
        history = self.history(name)
        current = self.registry.version_by_alias(name, CHAMPION)
        if not history and current is not None:  # champion set before the history was kept
            history = [history_entry(current.version, "unrecorded", "champion before the history was kept")]
        history.append(history_entry(str(version), move, reason))
        self.registry.set_alias(name, CHAMPION, str(version))
        self.registry.tag_version(name, version, {"champion_move": move, "champion_reason": reason,
                                         "champion_set_by": getpass.getuser(), "champion_set_at": _now()})
        self.registry.client.set_registered_model_tag(name, HISTORY_TAG, history_json(history))

    def promote(self, name: str, version: str, reason: str) -> None:
        """Make an existing version champion by hand."""
        known = [str(v.version) for v in self.registry.versions(name)]
        if str(version) not in known:
            raise ValueError(f"{name} has no version {version}; versions: {', '.join(known) or 'none'} "
                             "(list them with `ml-assets models`)")
        self.move(name, str(version), "promote", reason)

    def rollback(self, name: str, reason: str) -> str:
        """Move `champion` back to the version that held it before the current one; returns that version."""
        current = self.registry.version_by_alias(name, CHAMPION)
        if current is None:
            raise ValueError(f"{name} has no champion to roll back; promote a version with `ml-assets promote`")
        stack = champion_stack(self.history(name))
        if not stack:
            raise ValueError(f"{name}: no champion moves are recorded (v{current.version} became champion before "
                             "the history was kept); set the champion explicitly with `ml-assets promote`")
        if stack[-1] != str(current.version):
            raise ValueError(f"{name}@champion is v{current.version} but the recorded history ends at "
                             f"v{stack[-1]} (moved outside ml-assets?); "
                             "set the champion explicitly with `ml-assets promote`")
        if len(stack) < 2:
            raise ValueError(f"{name}: v{current.version} is the first recorded champion; "
                             "there is none to roll back to")
        self.move(name, stack[-2], "rollback", reason)
        return stack[-2]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def history_entry(version: str, move: str, reason: str) -> dict[str, str]:
    """One champion move: version, kind of move (gate, promote, rollback), reason, user and time."""
    return {"version": str(version), "move": move, "reason": reason[:200], "by": getpass.getuser(), "at": _now()}


def history_json(history: list[dict[str, str]]) -> str:
    """The newest moves that fit in one registered-model tag, as JSON."""
    kept = list(history)
    while len(kept) > 1 and len(json.dumps(kept)) > HISTORY_MAX_CHARS:
        kept.pop(0)
    return json.dumps(kept)


def champion_stack(history: list[dict[str, str]]) -> list[str]:
    """Champion versions in the order they took over, rollbacks undone: the last is the current champion."""
    stack: list[str] = []
    for entry in history:
        version = entry["version"]
        if entry["move"] == "rollback":
            while stack and stack[-1] != version:
                stack.pop()
        if not stack or stack[-1] != version:
            stack.append(version)
    return stack
