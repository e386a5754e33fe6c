from django.apps import AppConfig


class PolicyConfig(AppConfig):
    name = "apps.policy"
    label = "policy"
    verbose_name = "Policy and admission"

    def ready(self) -> None:
        from . import hooks

        hooks.connect()
