"""Counterfactual (offline A/B) evaluation of rankings from logged interactions."""
