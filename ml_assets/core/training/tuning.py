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

