"""The query parameters of the GET operations, declared like bodies: the generic entity queries (Tradovate's names,
lower-case as on its wire) and the simulator's `GET /sim/quote`. The server decodes a query string into these (a list
field from comma-separated values), answering a 400 that names the parameter."""

from typing import Annotated

import msgspec

from tradovate_sim.model.ids import ContractId

MAX_IDS = 1000
PositiveId = Annotated[int, msgspec.Meta(gt=0, le=2**63 - 1)]
Ids = Annotated[list[PositiveId], msgspec.Meta(max_length=MAX_IDS)]


class NoParameters(msgspec.Struct, frozen=True):
    """An operation that takes neither a body nor query parameters (`<kind>/list`, `auth/me`...)."""


class ItemQuery(msgspec.Struct, frozen=True):
    """`<kind>/item?id=`."""

    id: PositiveId


class ItemsQuery(msgspec.Struct, frozen=True):
    """`<kind>/items?ids=1,2,3`."""

    ids: Ids


class FindQuery(msgspec.Struct, frozen=True):
    """`<kind>/find?name=`: the entity named exactly so (case-insensitively)."""

    name: Annotated[str, msgspec.Meta(min_length=1)]


class SuggestQuery(msgspec.Struct, frozen=True):
    """`<kind>/suggest?t=&l=`: the entities whose name contains `t`, at most `l`."""

    t: str = ""
    l: PositiveId = 10  # noqa: E741 - Tradovate's name


class DepsQuery(msgspec.Struct, frozen=True):
    """`<kind>/deps?masterid=`."""

    masterid: PositiveId


class LdepsQuery(msgspec.Struct, frozen=True):
    """`<kind>/ldeps?masterids=1,2`."""

    masterids: Ids


class QuoteQuery(msgspec.Struct, frozen=True, rename="camel"):
    """`GET /sim/quote?symbol=ESZ6` or `?contractId=`."""

    symbol: str | None = None
    contract_id: Annotated[ContractId, msgspec.Meta(gt=0, le=2**63 - 1)] | None = None
