"""Dispatch: placing approved jobs on Slurm, Kubernetes or the local runner, watching them, and
the runtime guardrails (budgets, time limits, consent, policy) that stop them. Backends live in
``workers/dispatch/``; tasks in ``workers/dispatch_tasks.py``. See docs/dispatch.md."""
