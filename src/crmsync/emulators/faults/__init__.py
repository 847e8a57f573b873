"""Fault injection shared by the emulators: 5xx, 429 (random and storms), latency, timeouts, resets.

Delivery guarantees (nothing lost, no duplicate effects, retries by policy, rate budget kept) are
only proven under failure, so both emulators can fail like the real services — switchable at
start-up and at run time::

    emu = KlaviyoEmulator(faults=parse_fault_spec("error=0.2,throttle=0.1,timeout=0.05,seed=1"))
    emu.set_faults(FaultPlan(reset_rate=0.1, after_effect_rate=1.0))   # from Python, at run time
    emu.fault_stats                                                      # {"requests": .., "reset": ..}
    emu.clear_faults()

Over HTTP (emulator-only endpoints, never faulted, rate-limited or authenticated):
``GET/PUT/DELETE /__emulator/faults``. Errors use each vendor's wire format through the emulator's
own error helpers; see :mod:`.injector` for what a client observes per fault kind.
"""

from .admin import FAULTS_PATH, AdminInputError, admin_error, admin_json, read_admin_object
from .injector import NO_RESPONSE, Fault, FaultInjector, Recorder, Renderer
from .plan import ADMIN_PREFIX, FaultPlan, FaultPlanError, parse_fault_spec

__all__ = [
    "ADMIN_PREFIX",
    "FAULTS_PATH",
    "NO_RESPONSE",
    "AdminInputError",
    "Fault",
    "FaultInjector",
    "FaultPlan",
    "FaultPlanError",
    "Recorder",
    "Renderer",
    "admin_error",
    "admin_json",
    "parse_fault_spec",
    "read_admin_object",
]
