"""Scoring a day: calibrated scores, reason codes, similar past customers, risk clusters, the risk report."""
