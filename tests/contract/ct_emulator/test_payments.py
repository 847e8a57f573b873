"""Payments over HTTP: drafts, transactions, their Messages, errors."""

from __future__ import annotations

from crmsync.emulators.commercetools import CommercetoolsEmulator

from .commerce_support import created, error_code, messages_of, updated
from .conftest import Api

DRAFT = {
    "key": "pay-1",
    "amountPlanned": {"currencyCode": "EUR", "centAmount": 4200},
    "paymentMethodInfo": {"paymentInterface": "STRIPE", "method": "CREDIT_CARD"},
    "transactions": [
        {"type": "Authorization", "amount": {"currencyCode": "EUR", "centAmount": 4200}, "state": "Success"}
    ],
}


async def test_create_and_read(api: Api, emu: CommercetoolsEmulator) -> None:
    payment = await created(api, "/payments", DRAFT)
    assert payment["amountPlanned"] == {
        "type": "centPrecision",
        "currencyCode": "EUR",
        "centAmount": 4200,
        "fractionDigits": 2,
    }
    (transaction,) = payment["transactions"]
    assert (
        transaction["type"] == "Authorization"
        and transaction["state"] == "Success"
        and len(transaction["id"]) == 36
    )
    assert transaction["timestamp"] == payment["createdAt"]  # defaults to the time it was added
    assert payment["paymentStatus"] == {} and payment["interfaceInteractions"] == []
    (message,) = messages_of(emu, payment["id"])
    assert message["type"] == "PaymentCreated" and message["payment"] == payment
    assert message["resourceUserProvidedIdentifiers"] == {"key": "pay-1"}
    assert await api.get("/payments/key=pay-1") == (200, payment)
    assert (await api.get("/payments/00000000-0000-4000-8000-000000000000"))[0] == 404
    status, body = await api.post("/payments", DRAFT)
    assert status == 400 and error_code(body) == "DuplicateField"
    status, body = await api.post("/payments", {"amountPlanned": {"currencyCode": "EUR"}})
    assert status == 400 and error_code(body) == "InvalidJsonInput"
    status, page = await api.get("/payments", where='key = "pay-1"')
    assert status == 200 and page["count"] == 1


async def test_transactions_write_their_messages(api: Api, emu: CommercetoolsEmulator) -> None:
    payment = await created(api, "/payments", DRAFT)
    charge = {
        "type": "Charge",
        "amount": {"currencyCode": "EUR", "centAmount": 4200},
        "timestamp": "2024-05-01T12:00:00Z",
        "interactionId": "ch_1",
    }
    payment = await updated(api, "/payments", payment, {"action": "addTransaction", "transaction": charge})
    transaction = payment["transactions"][1]
    assert transaction["state"] == "Initial" and transaction["timestamp"] == "2024-05-01T12:00:00.000Z"
    payment = await updated(
        api,
        "/payments",
        payment,
        {"action": "changeTransactionState", "transactionId": transaction["id"], "state": "Success"},
    )
    refund = {"type": "Refund", "amount": {"currencyCode": "EUR", "centAmount": 1000}, "state": "Pending"}
    payment = await updated(api, "/payments", payment, {"action": "addTransaction", "transaction": refund})
    messages = messages_of(emu, payment["id"])
    assert [(m["type"], m["sequenceNumber"], m["resourceVersion"]) for m in messages] == [
        ("PaymentCreated", 1, 1),
        ("PaymentTransactionAdded", 2, 2),
        ("PaymentTransactionStateChanged", 3, 3),
        ("PaymentTransactionAdded", 4, 4),
    ]
    assert messages[1]["transaction"] == transaction
    assert messages[2]["transactionId"] == transaction["id"] and messages[2]["state"] == "Success"
    status, body = await api.post(
        f"/payments/{payment['id']}",
        {
            "version": 4,
            "actions": [{"action": "changeTransactionState", "transactionId": "nope", "state": "Failure"}],
        },
    )
    assert status == 400 and error_code(body) == "InvalidOperation"
    status, body = await api.post(
        f"/payments/{payment['id']}",
        {"version": 4, "actions": [{"action": "addTransaction", "transaction": {**refund, "type": "Gift"}}]},
    )
    assert status == 400 and error_code(body) == "InvalidJsonInput"
    status, body = await api.post(f"/payments/{payment['id']}", {"version": 1, "actions": []})
    assert status == 409 and body["errors"][0]["currentVersion"] == 4
    status, body = await api.call("DELETE", f"/payments/{payment['id']}", params={"version": "4"})
    assert status == 200 and body == payment
