"""The Celery application. Tasks live in ``workers/`` and in each app's ``tasks.py``."""

import os

from celery import Celery, signals

from govhub.runtime import tune_gc

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govhub.settings")

app = Celery("govhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])
app.autodiscover_tasks()


@signals.worker_process_init.connect  # each prefork child, after it has loaded the tasks
def _tune_child(**_kwargs) -> None:
    tune_gc()


@signals.worker_ready.connect  # the solo/threads pools run tasks in the main process
def _tune_main(**_kwargs) -> None:
    tune_gc()
