"""A faithful local commercetools Composable Commerce HTTP API (auth, customers, messages,
custom objects, types) with optional Pub/Sub-style subscription delivery.

    emulator = CommercetoolsEmulator("demo", subscription_url="http://127.0.0.1:8080/push")
    base_url = await emulator.start()        # serves /oauth/token and /demo/...
    emulator.create_customer({"email": "a@example.com", "password": "x"})
    await emulator.drain_deliveries()
    await emulator.stop()
"""

from .emulator import CommercetoolsEmulator, serve
from .errors import CtApiError
from .seed import generate_customer_drafts, generate_update_actions

__all__ = [
    "CommercetoolsEmulator",
    "CtApiError",
    "generate_customer_drafts",
    "generate_update_actions",
    "serve",
]
