"""Typed identifiers: Tradovate ids are int64 on the wire, distinct types in our signatures."""

from typing import NewType

UserId = NewType("UserId", int)
OrganizationId = NewType("OrganizationId", int)
AccountId = NewType("AccountId", int)
ContractId = NewType("ContractId", int)
ContractMaturityId = NewType("ContractMaturityId", int)
ProductId = NewType("ProductId", int)
ExchangeId = NewType("ExchangeId", int)
OrderId = NewType("OrderId", int)
CommandId = NewType("CommandId", int)
FillId = NewType("FillId", int)
PositionId = NewType("PositionId", int)
FillPairId = NewType("FillPairId", int)
SessionId = NewType("SessionId", int)  # a UserSession
OrderStrategyId = NewType("OrderStrategyId", int)
