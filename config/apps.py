from django.apps import AppConfig


class WiringConfig(AppConfig):
    """Listed last in INSTALLED_APPS: wires the layers (config/wiring.py) once every app's models are loaded."""

    name = "config"
    label = "wiring"
    verbose_name = "Wiring"

    def ready(self) -> None:
        # Imported here, not at the top: the wiring imports models and tasks, which need the ready app registry
        # (Django's documented place for such imports). config is the wiring layer, above every package.
        from config.wiring import layers_wire

        layers_wire()
