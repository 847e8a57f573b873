"""Rate budgets (promise 6): a target account is never driven above its published limits.

:class:`LocalRateLimiter` serves one process (SQLite deployments, tests, the demo): a sliding log of
send times per bucket, so that no window of any alignment holds more than the limit — stricter than
the vendors' fixed windows, hence never above them. :class:`SharedRateLimiter` keeps the same
windows in the state store, for many workers sharing one PostgreSQL database.
"""

from crmsync.ratelimit.local import LocalRateLimiter
from crmsync.ratelimit.shared import SharedRateLimiter

__all__ = ["LocalRateLimiter", "SharedRateLimiter"]
