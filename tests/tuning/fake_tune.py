"""Stand-ins for what the driver's Tune callbacks read of Ray Tune's objects."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeTrial:
    """What the callback reads of a Tune trial: its config, error and metadata."""

    config: dict
    error: str | None = None
    meta: dict = field(default_factory=dict)
    error_file: str | None = None
    """Where Tune appends the trial's failures (``Failure # N (occurred at ...)`` then the error)."""

    def get_error(self) -> str | None:
        return self.error
