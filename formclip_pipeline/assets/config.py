"""The assets' Dagster config, made from the core's settings classes so that a setting is declared once."""
from __future__ import annotations

import dagster as dg
import pydantic

from formclip_pipeline.core.settings import user_choices


def dagster_config(cls, name: str):
    """A Dagster Config class with the settings class's user choices, their defaults (read when the
    definitions load, so FORMCLIP_BASE_MODEL counts) and help text, shown in the launchpad. Their
    ranges are checked when the asset builds the settings class from it."""
    spec = {f.name: (kind, pydantic.Field(default=default, description=f.metadata.get("help") or None))
            for f, kind, default in user_choices(cls)}
    return pydantic.create_model(name, __base__=dg.Config, __doc__=cls.__doc__, **spec)
