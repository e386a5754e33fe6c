"""Celery tasks and (later) dispatch backends. Tasks are thin: they take ids, run as a system
actor, and call service functions."""
