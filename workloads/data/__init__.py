"""Data loaders and embedded data sets (numpy only; no torch import here)."""
