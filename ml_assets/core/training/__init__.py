"""Training a segment's model: the booster, calibration, baseline, tuning, evaluation, the gate, the leakage audit."""
