"""Synthetic workout videos with exact, per-frame ground truth."""
