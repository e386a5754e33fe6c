"""Fallback WSGI entry point for the benchmarks while ``govhub/wsgi.py`` is missing
(``harness.default_wsgi_app`` picks this only then)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govhub.settings")

application = get_wsgi_application()
