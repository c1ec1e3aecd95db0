"""How a service's settings reach what uses them, read once when its container starts
(shared/settings.py `of_service`): never from the environment, never at import.

- `settings = Configured(CasesSettings)` on a service class declares which settings the service reads
  (`CasesSettings.from_env()`, once per container) and gives its workers `self.settings`;
- `@every("overdue_scan_seconds")`: a nameko timer whose interval is that field of the settings."""
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from shared.settings import Settings, of_service


class Configured(DependencyProvider):
    """The service's settings (a `Settings` subclass of its own), for its entrypoints: `self.settings`."""

    def __init__(self, settings_class: type[Settings]):
        self.settings_class = settings_class

    def setup(self) -> None:
        self.settings = of_service(self.container)

    def get_dependency(self, worker_ctx) -> Any:
        return self.settings


def setting(container, name: str) -> Any:
    """One field of a running service's settings; a service whose settings lack it does not start."""
    settings = of_service(container)
    try:
        return getattr(settings, name)
    except AttributeError:
        raise RuntimeError(f"{type(settings).__name__} of the {container.service_name} service has no"
                           f" setting {name!r}") from None


class SettingTimer(Timer):
    """A timer whose interval (seconds) is a field of the service's settings, known when it sets up."""

    def __init__(self, interval_setting: str, eager: bool = False, **kwargs):
        self.interval_setting = interval_setting
        super().__init__(interval=None, eager=eager, **kwargs)

    def setup(self) -> None:
        self.interval = float(setting(self.container, self.interval_setting))
        super().setup()


every = SettingTimer.decorator
