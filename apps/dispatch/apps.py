from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "apps.dispatch"
    label = "dispatch"
    verbose_name = "Dispatch and guardrails"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import hooks

        hooks.register()
