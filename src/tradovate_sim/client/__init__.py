"""The typed Python client of Tradovate's API, for this server and for Tradovate itself (docs/client.md).

```python
from tradovate_sim.client import Tradovate
from tradovate_sim.model.requests import PlaceOrder

with Tradovate(url="local", name="demo", password="...") as client:
    account = client.account.list()[0]
    front = client.contract.suggest("ES", 1)[0]  # the ES front month (ESZ6 until 2026-12-18)
    result = client.order.place_order(PlaceOrder(account_id=account.id, action="Buy", symbol=front.name,
                                                 order_qty=1, order_type="Market", is_automated=True))
```

Needs msgspec, httpx and websockets only (never the server's dependencies).
"""

from tradovate_sim.client.environments import DEMO, LIVE, LOCAL, Environment
from tradovate_sim.client.errors import (
    AuthError,
    BadRequestError,
    NotFoundError,
    PenaltyCaptchaError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    StatusError,
    TradovateError,
    TransportError,
)
from tradovate_sim.client.session import Credentials
from tradovate_sim.client.socket import TradovateSocket
from tradovate_sim.client.streams import Chart, Doms, Quotes, Sync
from tradovate_sim.client.tradovate import AsyncTradovate, Tradovate

__all__ = [
    "DEMO",
    "LIVE",
    "LOCAL",
    "AsyncTradovate",
    "AuthError",
    "BadRequestError",
    "Chart",
    "Credentials",
    "Doms",
    "Environment",
    "NotFoundError",
    "PenaltyCaptchaError",
    "ProtocolError",
    "Quotes",
    "RateLimitedError",
    "ServerError",
    "StatusError",
    "Sync",
    "Tradovate",
    "TradovateError",
    "TradovateSocket",
    "TransportError",
]
