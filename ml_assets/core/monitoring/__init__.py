"""Watching a model: drift against its reference profile, estimated and realized performance, retrain rules."""
