"""A product's root typed on the command line is its front month: the first of its own contracts that
`contract/suggest` names (the others it suggests — MES for ES, ES for E — are not that product's)."""

import pytest

from tradovate_sim.cli.names import front_month
from tradovate_sim.model.entities import Contract
from tradovate_sim.model.ids import ContractId, ContractMaturityId


def suggested(*names: str) -> list[Contract]:
    return [Contract(id=ContractId(i), name=name, contract_maturity_id=ContractMaturityId(i))
            for i, name in enumerate(names, start=1)]


@pytest.mark.parametrize(("root", "names", "front"), [
    ("ES", ("MESZ6", "ESH7", "ESZ6"), "ESH7"),  # the server's order decides: here ESZ6 expired, ranked last
    ("MES", ("MESZ6", "MESH7"), "MESZ6"),
    ("6E", ("6EZ6",), "6EZ6"),
    ("ES", ("ESTX5", "ESZ16"), "ESZ16"),  # not a month code after the root; a two-digit year is still a contract
])
def test_front_month_is_the_first_suggested_contract_of_the_root(root: str, names: tuple[str, ...],
                                                                  front: str) -> None:
    found = front_month(root, suggested(*names))
    assert found is not None and found.name == front


@pytest.mark.parametrize(("root", "names"), [("E", ("ESZ6", "ESH7")), ("ESZ", ("ESZ6",)), ("NQ", ())])
def test_front_month_is_none_when_no_suggested_contract_is_of_the_root(root: str, names: tuple[str, ...]) -> None:
    assert front_month(root, suggested(*names)) is None
