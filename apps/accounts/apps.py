from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts and projects"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from . import authcache, schema  # noqa: F401  (schema registers the OpenAPI bearer scheme)
        from .models import ApiToken, Membership, User

        for model in (User, Membership, ApiToken):  # whatever writes them: services, admin, shell
            post_save.connect(authcache.changed, sender=model, dispatch_uid=f"authcache-{model.__name__}-save")
            post_delete.connect(authcache.changed, sender=model, dispatch_uid=f"authcache-{model.__name__}-delete")
