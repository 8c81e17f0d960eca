"""The `md` event's packets: a contract's quote and depth of market, in prices, from the market's tick quote."""

from tradovate_sim.core.view import Quote
from tradovate_sim.model.market import DomPacket, PriceSize, QuoteEntries, QuotePacket


def quote_packet(quote: Quote, tick: float) -> QuotePacket:
    def at(ticks: int, size: int) -> PriceSize:
        return PriceSize(price=round(ticks * tick, 10), size=size)

    return QuotePacket(timestamp=quote.timestamp, contract_id=quote.contract_id, entries=QuoteEntries(
        bid=None if quote.bid is None else at(quote.bid, quote.bid_size),
        offer=None if quote.ask is None else at(quote.ask, quote.ask_size),
        trade=None if quote.last is None else at(quote.last, quote.last_size)))


def dom_packet(quote: Quote, tick: float) -> DomPacket:
    """Best price first on each side: the top with its size, then `depthLevels` levels of `depthSize` each."""
    def side(top: int | None, size: int, step: int) -> list[PriceSize]:
        if top is None:
            return []
        levels = [PriceSize(price=round(top * tick, 10), size=size)]
        if quote.depth_size > 0:
            levels += [PriceSize(price=round((top + step * k) * tick, 10), size=quote.depth_size)
                       for k in range(1, quote.depth_levels + 1)]
        return levels

    return DomPacket(contract_id=quote.contract_id, timestamp=quote.timestamp,
                     bids=side(quote.bid, quote.bid_size, -1), offers=side(quote.ask, quote.ask_size, 1))
