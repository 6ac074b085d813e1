"""Optional Optuna search of XGBoost params, scored by AUC on the early-stopping validation slice.

The holdout is never seen by the search: it stays the honest test of the tuned model. Optuna is
imported only here, when tuning is enabled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ml_assets.spec import SearchRange, TuningSpec

if TYPE_CHECKING:
    import optuna

# params -> validation-slice AUC of a booster fitted with them (early stopping on that slice)
ValidationAuc = Callable[[dict[str, Any]], float]


@dataclass(frozen=True)
class TuningResult:
    """The best trial's params and validation AUC, and every finished trial."""

    best_params: dict[str, Any]
    best_validation_auc: float
    trials: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> TuningSummary:
        """What the model record keeps of the search: the best params and AUC, and how many trials finished."""
        return TuningSummary(self.best_params, self.best_validation_auc, len(self.trials))


@dataclass(frozen=True)
class TuningSummary:
    """The tuning search as the model record stores it; `best_params` are XGBoost params (XGBoost's own names)."""

    best_params: dict[str, Any]
    best_validation_auc: float
    trials: int

    def as_dict(self) -> dict[str, Any]:
        """JSON form kept in the model record."""
        return {"best_params": self.best_params, "best_validation_auc": self.best_validation_auc,
                "trials": self.trials}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> TuningSummary:
        """Read the stored form (`as_dict()`)."""
        return cls(dict(document["best_params"]), float(document["best_validation_auc"]), int(document["trials"]))


def suggest(trial: optuna.Trial, name: str, search: SearchRange) -> float | int:
    """One parameter value for a trial from its configured range."""
    if search.integer:
        return trial.suggest_int(name, int(search.low), int(search.high), log=search.log)
    return trial.suggest_float(name, search.low, search.high, log=search.log)


def tune_params(validation_auc: ValidationAuc, base_params: dict[str, Any], tuning: TuningSpec,
                seed: int) -> TuningResult:
    """Search `tuning.search_space` around `base_params` with TPE; bounded by n_trials and timeout_s."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        params = {**base_params, **{name: suggest(trial, name, r) for name, r in tuning.search_space.items()}}
        return validation_auc(params)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=tuning.n_trials, timeout=tuning.timeout_s)
    trials = [{"number": t.number, "validation_auc": t.value, **t.params}
              for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return TuningResult({**base_params, **study.best_params}, float(study.best_value), trials)

