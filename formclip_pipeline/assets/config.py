"""The assets' Dagster config, made from the core's settings classes so that a setting is declared once."""
from __future__ import annotations

import dagster as dg
import pydantic

from formclip_pipeline.core.settings import user_choices


def _bounds(meta: dict) -> dict:
    """A setting's declared range as pydantic's constraints: a run given a value outside it stops when
    its step builds the config, before any work."""
    low, high = meta.get("low"), meta.get("high")
    return {**({"gt" if meta.get("above") else "ge": low} if low is not None else {}),
            **({"le": high} if high is not None else {})}


def dagster_config(cls, name: str):
    """A Dagster Config class with the settings class's user choices, their defaults (read when the
    definitions load, so FORMCLIP_BASE_MODEL counts), their ranges and help text, shown in the
    launchpad. Choices of a list are checked when the asset builds the settings class from it."""
    spec = {f.name: (kind, pydantic.Field(default=default, description=f.metadata.get("help") or None,
                                          **(_bounds(f.metadata) if kind in (int, float) else {})))
            for f, kind, default in user_choices(cls)}
    return pydantic.create_model(name, __base__=dg.Config, __doc__=cls.__doc__, **spec)
