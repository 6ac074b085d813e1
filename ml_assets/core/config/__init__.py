"""Checks of what a config may say, without importing the libraries: cron strings, XGBoost parameters."""
