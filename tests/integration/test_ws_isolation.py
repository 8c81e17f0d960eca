"""A socket hears about an account only while its user may see it and its session lives.

After `user/revoketradingpermission` the trader's socket gets the revocation and nothing more of that account; a
socket whose session has ended (a third login of the user, a `/sim/reset` that ends it) is closed with
`c[4401,"Session ended"]` and gets nothing after that."""

from typing import Any

from server import Desk, evaluation_account, order
from ws_client import JSON, Opener, WsClient


def about(account_id: int, order_ids: set[int]) -> Any:
    """Whether a props payload concerns `account_id` (or one of its orders)."""
    def concerns(payload: JSON) -> bool:
        entity = payload["entity"]
        return entity.get("accountId") == account_id or entity.get("orderId") in order_ids or \
            (payload["entityType"] == "account" and entity["id"] == account_id) or \
            (payload["entityType"] == "order" and entity["id"] in order_ids)
    return concerns


def cash_event(client: WsClient, account_id: int, amount: float) -> bool:
    return any(p["entityType"] == "cashBalance" and p["entity"]["accountId"] == account_id
               and p["entity"]["amount"] == amount for p in client.props())


def create_trader(desk: Desk, name: str) -> tuple[int, str]:
    """An evaluation user with one account made from TEMPLATE: (account id, token)."""
    user_id = desk.create_user(name)
    created = desk.api.call("user/createevaluationaccounts", {
        "accounts": [evaluation_account(user_id, desk.template, f"{name.upper()}-1")]}, desk.admin)
    return created["results"][0]["accountId"], desk.api.token(name, f"{name}-pw")


async def test_events_of_an_account_stop_when_the_traders_permission_is_revoked(desk: Desk, ws: Opener) -> None:
    # Arrange: the demo trader follows DEMO1 and DEMO2
    trader = await ws(desk.demo)
    snapshot = await trader.sync()
    assert {a["id"] for a in snapshot["accounts"]} == {desk.demo1, desk.demo2}
    permission = next(p for p in desk.api.entities("tradingPermission", desk.admin)
                      if p["accountId"] == desk.demo1 and p["userId"] == desk.demo_user)
    # Act
    desk.api.call("user/revoketradingpermission", {"tradingPermissionId": permission["id"]}, desk.admin)
    await trader.wait_until(lambda: any(p["entityType"] == "tradingPermission" for p in trader.props()),
                            what="the revocation")
    revoked_at = len(trader.events)
    desk.quote(bid=6800.0, ask=6800.25)
    theirs = desk.place(order(desk.demo1), token=desk.admin)["orderId"]  # DEMO1 trades on, as the admin wants
    desk.api.call("cashBalance/changedemobalance", {"accountId": desk.demo1, "cashChange": 1.0}, desk.admin)
    desk.api.call("cashBalance/changedemobalance", {"accountId": desk.demo2, "cashChange": 2.0}, desk.admin)
    # Assert: the trader hears of DEMO2 (committed last), never again of DEMO1
    await trader.wait_until(lambda: cash_event(trader, desk.demo2, 50_002.0), what="DEMO2's balance")
    revocation = [p for p in trader.props() if p["entityType"] == "tradingPermission"]
    assert [(p["entity"]["id"], p["entity"]["status"]) for p in revocation] == [(permission["id"], "Revoked")]
    assert [p for p in trader.props(revoked_at) if about(desk.demo1, {theirs})(p)] == []
    assert desk.api.get("/v1/order/item", desk.demo, id=theirs).status_code == 404


async def test_a_socket_is_closed_and_hears_nothing_more_when_a_third_login_ends_its_session(
        desk: Desk, ws: Opener) -> None:
    # Arrange: one socket on the first session, one on the last
    account_id, first = create_trader(desk, "thrice")
    old = await ws(first)
    await old.sync()
    await old.call("md/subscribeQuote", {"symbol": "ESZ6"})
    await old.wait_until(lambda: old.md() != [], what="the current quote")
    # Act: two more logins end the first session
    desk.api.token("thrice", "thrice-pw")
    last = desk.api.token("thrice", "thrice-pw")
    seen = len(old.events)
    current = await ws(last)
    await current.sync()
    desk.quote(bid=6800.0, ask=6800.25)
    placed = desk.place(order(account_id), token=last)["orderId"]
    # Assert: the old socket is closed, saying why, and received nothing of the order; the live session did
    assert await old.closed() == (4401, "Session ended")
    assert [p for p in old.props(seen) if about(account_id, {placed})(p)] == []
    assert old.md(seen) == []
    await current.wait_until(lambda: any(p["entityType"] == "order" and p["entity"]["id"] == placed
                                         for p in current.props()), what="the order on the live session's socket")
    assert desk.api.get("/v1/auth/me", first).status_code == 401


async def test_a_socket_whose_session_a_reset_ends_is_closed(desk: Desk, ws: Opener) -> None:
    # Arrange: a user the seed does not know (its sessions end with the reset) and a seeded one (kept)
    _, token = create_trader(desk, "ephemeral")
    gone = await ws(token)
    await gone.sync()
    kept = await ws(desk.demo)
    await kept.sync()
    # Act
    desk.api.reset(desk.admin)
    # Assert
    assert await gone.closed() == (4401, "Session ended")
    assert (await kept.request("account/list"))["s"] == 200
    assert not kept.ended
