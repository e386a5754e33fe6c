from django.apps import AppConfig


class LineageConfig(AppConfig):
    name = "apps.lineage"
    label = "lineage"
    verbose_name = "Lineage"

    def ready(self) -> None:
        from . import hooks

        hooks.connect()
