"""Auto-liquidation rules over HTTP and the WebSocket: `userAccountAutoLiq/create|update|updateuserautoliq(s)`, the
trader's copy `permissionedAccountAutoLiq`, who may change what (admin, trader, changesLocked, another trader), bad
input, the batch's per-item errors, and the `props` events of every change."""

from server import START_BALANCE, Desk, evaluation_account
from ws_client import Opener

RULES = "userAccountAutoLiq"


def other_trader(desk: Desk, name: str = "other") -> tuple[int, str]:
    """Another evaluation trader with one account: (account id, token)."""
    user_id = desk.create_user(name)
    created = desk.api.call("user/createevaluationaccounts", {
        "accounts": [evaluation_account(user_id, desk.template, f"{name.upper()}-1")]}, desk.admin)
    return created["results"][0]["accountId"], desk.api.token(name, f"{name}-pw")


def update(desk: Desk, token: str, **fields: object) -> dict[str, object]:
    result: dict[str, object] = desk.api.call(f"{RULES}/updateuserautoliq", fields, token)
    return result


def test_admin_creates_reads_and_replaces_rules_when_the_account_has_none(desk: Desk) -> None:
    # Act
    created = desk.api.call(f"{RULES}/create", {"id": desk.demo1, "dailyLossAutoLiq": 500.0,
                                                "trailingMaxDrawdown": 2_000.0}, desk.admin)
    again = desk.api.call(f"{RULES}/create", {"id": desk.demo1, "dailyLossAutoLiq": 1.0}, desk.admin)
    replaced = desk.api.call(f"{RULES}/update", {"id": desk.demo1, "weeklyLossAutoLiq": 900.0}, desk.admin)
    # Assert
    assert created == {"id": desk.demo1, "dailyLossAutoLiq": 500.0, "trailingMaxDrawdown": 2_000.0}
    assert "already exists" in again["errorText"]
    assert replaced == {"id": desk.demo1, "weeklyLossAutoLiq": 900.0}  # update replaces: omitted rules are off
    assert desk.api.item(RULES, desk.demo1, desk.demo) == replaced
    assert desk.api.deps(RULES, desk.demo1, desk.admin) == [replaced]
    assert desk.api.item("permissionedAccountAutoLiq", desk.demo1, desk.demo) == replaced
    assert [r["id"] for r in desk.api.query(f"{RULES}/items", desk.demo, ids=f"{desk.demo1},{desk.demo2}")] == [
        desk.demo1]


def test_update_answers_an_error_text_when_the_account_has_no_rules(desk: Desk) -> None:
    result = desk.api.call(f"{RULES}/update", {"id": desk.demo2, "dailyLossAutoLiq": 5.0}, desk.admin)

    assert "does not exist" in result["errorText"]
    assert desk.api.deps(RULES, desk.demo2, desk.admin) == []


def test_updateuserautoliq_keeps_omitted_rules_and_turns_off_null_ones_when_it_merges(desk: Desk) -> None:
    # Arrange
    update(desk, desk.admin, accountId=desk.demo1, dailyLossAutoLiq=500.0, dailyProfitAutoLiq=1_000.0,
           trailingMaxDrawdown=2_000.0, trailingMaxDrawdownMode="EOD", doNotUnlock=True)
    # Act
    result = update(desk, desk.admin, accountId=desk.demo1, dailyProfitAutoLiq=None, weeklyLossAutoLiq=800.0,
                    asOwner=True)
    # Assert
    expected = {"id": desk.demo1, "dailyLossAutoLiq": 500.0, "weeklyLossAutoLiq": 800.0, "trailingMaxDrawdown": 2_000.0,
                "trailingMaxDrawdownMode": "EOD", "doNotUnlock": True}
    assert result == {"userAccountAutoLiq": expected,
                      "permissionedAccountAutoLiq": {"id": desk.demo1, "dailyLossAutoLiq": 500.0,
                                                     "weeklyLossAutoLiq": 800.0}}
    assert desk.api.item(RULES, desk.demo1, desk.admin) == expected


def test_trader_changes_rules_until_an_admin_locks_changes(desk: Desk) -> None:
    # Act: the trader sets a rule, may not lock; the admin locks; the trader is refused from then on
    own = update(desk, desk.demo, accountId=desk.demo1, dailyLossAutoLiq=300.0)
    self_lock = update(desk, desk.demo, accountId=desk.demo1, changesLocked=True)
    update(desk, desk.admin, accountId=desk.demo1, changesLocked=True)
    locked = update(desk, desk.demo, accountId=desk.demo1, dailyLossAutoLiq=100_000.0)
    locked_entity = desk.api.call(f"{RULES}/update", {"id": desk.demo1}, desk.demo)
    admin = update(desk, desk.admin, accountId=desk.demo1, dailyLossAutoLiq=250.0)
    # Assert
    assert own["userAccountAutoLiq"] == {"id": desk.demo1, "dailyLossAutoLiq": 300.0}
    assert "only an organization admin" in str(self_lock["errorText"])
    assert "locked" in str(locked["errorText"]) and "userAccountAutoLiq" not in locked
    assert "locked" in locked_entity["errorText"]
    assert admin["userAccountAutoLiq"] == {"id": desk.demo1, "dailyLossAutoLiq": 250.0, "changesLocked": True}
    assert desk.api.item("permissionedAccountAutoLiq", desk.demo1, desk.demo)["changesLocked"] is True


def test_another_trader_neither_sees_nor_changes_the_rules_when_not_permitted(desk: Desk) -> None:
    # Arrange
    update(desk, desk.admin, accountId=desk.demo1, dailyLossAutoLiq=500.0)
    _, token = other_trader(desk)
    # Act / Assert
    assert desk.api.get(f"/v1/{RULES}/item", token, id=desk.demo1).status_code == 404
    assert desk.api.get("/v1/permissionedAccountAutoLiq/item", token, id=desk.demo1).status_code == 404
    assert desk.api.query(f"{RULES}/list", token) == []
    assert desk.api.query(f"{RULES}/deps", token, masterid=desk.demo1) == []
    for path, body in ((f"{RULES}/updateuserautoliq", {"accountId": desk.demo1, "dailyLossAutoLiq": 1.0}),
                       (f"{RULES}/update", {"id": desk.demo1}), (f"{RULES}/create", {"id": desk.demo1})):
        assert desk.api.post(f"/v1/{path}", body, token).status_code == 404, path
    assert desk.api.item(RULES, desk.demo1, desk.admin) == {"id": desk.demo1, "dailyLossAutoLiq": 500.0}


def test_bad_rules_are_refused_naming_the_field_when_amounts_percentages_or_modes_are_invalid(desk: Desk) -> None:
    cases = {
        "dailyLossAutoLiq": {"dailyLossAutoLiq": -500.0},
        "weeklyProfitAutoLiq": {"weeklyProfitAutoLiq": 0},
        "dailyLossPercentageAutoLiq": {"dailyLossPercentageAutoLiq": 101.0},
        "marginPercentageAlert": {"marginPercentageAlert": -1.0},
        "trailingMaxDrawdownMode": {"trailingMaxDrawdown": 100.0, "trailingMaxDrawdownMode": "Sometimes"},
        "doNotUnlock": {"doNotUnlock": "yes"},
        "accountId": {"accountId": "DEMO1"},
    }
    for field, body in cases.items():
        response = desk.api.post(f"/v1/{RULES}/updateuserautoliq", {"accountId": desk.demo1, **body}, desk.admin)
        assert response.status_code == 400, (field, response.text)
        assert response.text.strip('"').startswith(field) or field in response.text, (field, response.text)
    response = desk.api.post(f"/v1/{RULES}/create", {"id": desk.demo1, "dailyLossAutoLiq": -1}, desk.admin)
    assert response.status_code == 400 and "dailyLossAutoLiq" in response.text
    assert desk.api.deps(RULES, desk.demo1, desk.admin) == []


def test_trailing_limit_is_refused_when_below_the_current_level_or_without_a_drawdown(desk: Desk) -> None:
    # The account starts at 50,000: with a 5,000 drawdown the level is 45,000.
    below = update(desk, desk.admin, accountId=desk.demo1, trailingMaxDrawdown=5_000.0,
                   trailingMaxDrawdownLimit=44_999.0)
    alone = update(desk, desk.admin, accountId=desk.demo1, trailingMaxDrawdownLimit=50_100.0)
    at_level = update(desk, desk.admin, accountId=desk.demo1, trailingMaxDrawdown=5_000.0,
                      trailingMaxDrawdownLimit=START_BALANCE - 5_000.0)

    assert "below the current liquidation level 45000" in str(below["errorText"])
    assert "needs trailingMaxDrawdown" in str(alone["errorText"])
    assert at_level["userAccountAutoLiq"] == {"id": desk.demo1, "trailingMaxDrawdown": 5_000.0,
                                              "trailingMaxDrawdownLimit": 45_000.0}


def test_batch_applies_valid_items_and_reports_each_invalid_one_when_mixed(desk: Desk) -> None:
    # Arrange
    hidden_account, _ = other_trader(desk)
    update(desk, desk.admin, accountId=desk.demo2, changesLocked=True)
    items = [
        {"accountId": desk.demo1, "dailyLossAutoLiq": 400.0},
        {"accountId": desk.demo1, "dailyLossAutoLiq": 1.0},
        {"accountId": desk.demo2, "dailyLossPercentageAutoLiq": 150.0},
        {"dailyLossAutoLiq": 5.0},
        {"accountId": 999_999, "dailyLossAutoLiq": 5.0},
        {"accountId": desk.demo2, "dailyLossAutoLiq": 600.0},
    ]
    # Act: the demo trader may change DEMO1 but not DEMO2 (locked) and cannot see the other trader's account
    as_trader = desk.api.call(f"{RULES}/updateuserautoliqs", {"items": [
        {"accountId": desk.demo1, "dailyProfitAutoLiq": 50.0}, {"accountId": desk.demo2, "dailyLossAutoLiq": 1.0},
        {"accountId": hidden_account, "dailyLossAutoLiq": 1.0}]}, desk.demo)
    result = desk.api.call(f"{RULES}/updateuserautoliqs", {"items": items}, desk.admin)
    # Assert
    answers = result["userAutoLiqs"]
    assert answers[0]["userAccountAutoLiq"] == {"id": desk.demo1, "dailyLossAutoLiq": 400.0,
                                                "dailyProfitAutoLiq": 50.0}
    assert "more than once" in answers[1]["errorText"]
    assert answers[2]["errorText"].startswith("dailyLossPercentageAutoLiq")
    assert answers[3]["errorText"] == "accountId: required"
    assert answers[4]["errorText"] == "accountId: unknown account 999999"
    assert answers[5]["userAccountAutoLiq"] == {"id": desk.demo2, "dailyLossAutoLiq": 600.0, "changesLocked": True}
    trader_answers = as_trader["userAutoLiqs"]
    assert "userAccountAutoLiq" in trader_answers[0]
    assert "locked" in trader_answers[1]["errorText"]
    assert trader_answers[2]["errorText"] == f"accountId: unknown account {hidden_account}"
    assert desk.api.deps(RULES, hidden_account, desk.admin) == []
    assert desk.api.post(f"/v1/{RULES}/updateuserautoliqs", {"items": []}, desk.admin).status_code == 400


async def test_rule_changes_are_props_events_of_both_entities_when_committed(desk: Desk, ws: Opener) -> None:
    # Arrange
    trader = await ws(desk.demo)
    await trader.sync()  # subscribes the socket to the trader's accounts
    # Act
    update(desk, desk.admin, accountId=desk.demo1, dailyLossAutoLiq=500.0)
    update(desk, desk.admin, accountId=desk.demo1, dailyLossAutoLiq=450.0)
    await trader.wait_until(lambda: len([p for p in trader.props() if p["entityType"] == RULES]) == 2,
                            what="two rule events")
    # Assert
    events = [(p["entityType"], p["eventType"], p["entity"]["dailyLossAutoLiq"]) for p in trader.props()
              if p["entityType"] in (RULES, "permissionedAccountAutoLiq")]
    assert events == [(RULES, "Created", 500.0), ("permissionedAccountAutoLiq", "Created", 500.0),
                      (RULES, "Updated", 450.0), ("permissionedAccountAutoLiq", "Updated", 450.0)]
    snapshot = await (await ws(desk.demo)).sync()
    assert snapshot["permissionedAccountAutoLiqs"] == [{"id": desk.demo1, "dailyLossAutoLiq": 450.0}]
