"""The base of every config model: unknown keys refused, instances frozen.

Its own module because the sub-models (`auth_config`, `paginator_config`, `change_tracking`) and
the API model (`model`) all derive from it; none of them should import another just for the base.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
