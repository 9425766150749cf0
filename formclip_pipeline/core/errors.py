"""Errors a person can act on, raised where scoring stops."""


class ScoreError(Exception):
    """Scoring cannot go on; the message is one sentence a person can act on."""
