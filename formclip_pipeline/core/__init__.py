"""FormClip's core: video, synthetic data, model, training, metrics, reps and reports.

Nothing here imports Dagster, so each module can be used and tested on its own.
"""
