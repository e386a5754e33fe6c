import os
import re

from .base import CACHES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user creation in tests

# pytest-xdist workers run in parallel and each clears the cache: give each its own Redis
# database so one worker's FLUSHDB never empties another's.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw"):
    _db = 2 + int(_worker[2:]) % 14
    _loc = CACHES["default"]["LOCATION"]
    if "db=" in _loc:
        _loc = re.sub(r"db=\d+", f"db={_db}", _loc)
    elif re.search(r"/\d+$", _loc):
        _loc = re.sub(r"/\d+$", f"/{_db}", _loc)
    else:
        _loc = _loc.rstrip("/") + f"/{_db}"
    CACHES = {"default": {**CACHES["default"], "LOCATION": _loc}}

# Dispatch fault injection for the "worker killed between submit and record" test: the dispatch
# service sleeps this long after the scheduler accepted a job and before recording it.
GOVHUB_DISPATCH_PAUSE_AFTER_SUBMIT = float(os.environ.get("GOVHUB_DISPATCH_PAUSE_AFTER_SUBMIT", "0") or 0)
