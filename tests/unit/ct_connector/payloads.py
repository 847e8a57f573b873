"""Builders for commercetools payloads in the shapes the vendor documents (see apis.md §1.6–1.7)."""

from __future__ import annotations

import base64
import json
from typing import Any

CUSTOMER_ID = "3cdcdcc8-80c5-41bb-abb5-ac8772c9cc24"
MESSAGE_ID = "2723ca8f-283c-4add-90bc-0978d195ed3c"


def customer(customer_id: str = CUSTOMER_ID, version: int = 1) -> dict[str, Any]:
    return {
        "id": customer_id,
        "version": version,
        "createdAt": "2022-09-19T14:34:35.843Z",
        "lastModifiedAt": "2022-09-19T14:34:35.843Z",
        "email": "johndoe@example.com",
        "firstName": "John",
        "lastName": "Doe",
        "addresses": [],
        "isEmailVerified": False,
        "stores": [],
        "authenticationMode": "Password",
    }


def message(
    message_type: str = "CustomerLastNameSet",
    *,
    message_id: str = MESSAGE_ID,
    resource_id: str = CUSTOMER_ID,
    type_id: str = "customer",
    sequence: int = 2,
    resource_version: int = 2,
    created_at: str = "2022-10-25T13:30:09.760Z",
    platform: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": message_id,
        "version": 1,
        "sequenceNumber": sequence,
        "resource": {"typeId": type_id, "id": resource_id},
        "resourceVersion": resource_version,
        "resourceUserProvidedIdentifiers": {},
        "type": message_type,
        "createdAt": created_at,
        "lastModifiedAt": created_at,
        **fields,
    }
    if platform:
        body = {"notificationType": "Message", "projectKey": "proj", **body}
    return body


def change(
    notification: str = "ResourceUpdated",
    *,
    resource_id: str = CUSTOMER_ID,
    type_id: str = "customer",
    version: int = 3,
    modified_at: str = "2022-10-25T13:23:40.577Z",
    **fields: Any,
) -> dict[str, Any]:
    return {
        "notificationType": notification,
        "projectKey": "proj",
        "resource": {"typeId": type_id, "id": resource_id},
        "resourceUserProvidedIdentifiers": {},
        "version": version,
        "modifiedAt": modified_at,
        **fields,
    }


def cloudevent(data: dict[str, Any], ce_type: str, *, subject: str = CUSTOMER_ID) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": data.get("id", "ce-1"),
        "type": ce_type,
        "source": "/proj/customers",
        "subject": subject,
        "time": "2022-06-17T08:41:58.066Z",
        "data": data,
    }


def pubsub(payload: Any, *, attributes: dict[str, Any] | None = None, raw_data: Any = None) -> dict[str, Any]:
    data = raw_data if raw_data is not None else base64.b64encode(json.dumps(payload).encode()).decode()
    msg: dict[str, Any] = {
        "data": data,
        "messageId": "2070443601311540",
        "message_id": "2070443601311540",
        "publishTime": "2025-01-16T10:30:35.749Z",
    }
    if attributes is not None:
        msg["attributes"] = attributes
    return {"message": msg, "subscription": "projects/p/subscriptions/s"}


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()
