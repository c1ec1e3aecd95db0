"""The approvals service's settings, read once when its container starts (shared/settings.py,
shared/configured.py); every variable is listed in README.md ("Configuration")."""
from dataclasses import dataclass

from shared.settings import Environ, Settings, number


@dataclass(frozen=True)
class ApprovalsSettings(Settings):
    texts_timeout: float  # half RPC_TIMEOUT_SECONDS: sealing and opening text waits on the cases service this long

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> "ApprovalsSettings":
        return cls(**Settings.for_service("approvals", environ).plumbing(),
                   texts_timeout=number("RPC_TIMEOUT_SECONDS", 10, environ, positive=True) / 2)
