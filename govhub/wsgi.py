"""WSGI entry point: ``gunicorn govhub.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govhub.settings")

application = get_wsgi_application()
