"""crmsync — commerce <-> CRM sync engine.

The small public Python API lives here; everything else is an implementation detail.
"""

from crmsync.errors import CrmsyncError, Recovery

__version__ = "0.1.0"
__all__ = ["CrmsyncError", "Recovery", "__version__"]
