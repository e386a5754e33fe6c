"""WSGI entry point: ``gunicorn govhub.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

from govhub.runtime import tune_gc

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govhub.settings")

application = get_wsgi_application()
tune_gc()  # after the apps are loaded: see govhub/runtime.py
