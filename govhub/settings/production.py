"""Production hardening. Refuses to start insecurely; `manage.py check --deploy` is clean."""

from django.core.exceptions import ImproperlyConfigured

from .base import DEBUG, DEFAULT_SECRET_KEY, SECRET_KEY, env

if DEBUG:
    raise ImproperlyConfigured("GOVHUB_ENV=production refuses to start with DEBUG on")
if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    raise ImproperlyConfigured(
        "GOVHUB_ENV=production needs SECRET_KEY: a random value of 50+ characters, not the default"
    )
for _name in ("DATABASE_URL", "REDIS_URL"):
    if _name not in env.ENVIRON:
        raise ImproperlyConfigured(f"GOVHUB_ENV=production needs {_name}")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health/?$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_AGE = 8 * 3600
