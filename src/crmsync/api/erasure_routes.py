"""``POST /erasure``: erase one person (GDPR) from every target, the state store and the sync log."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi import Path as FastPath
from pydantic import BaseModel, ConfigDict, Field, model_validator

from crmsync.engine.erasure import ErasureFailed
from crmsync.errors import CrmsyncError
from crmsync.service import Service

Text = Annotated[str, Field(min_length=1, max_length=320)]


class ErasureRequest(BaseModel):
    """At least one of ``id``, ``email``, ``phone_number``."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "anyOf": [{"required": ["id"]}, {"required": ["email"]}, {"required": ["phone_number"]}]
        },
    )
    kind: Literal["customer"] = "customer"
    id: Text = Field(default=None, description="the person's id in the source (commercetools)")  # type: ignore[assignment]
    email: Text = Field(default=None)  # type: ignore[assignment]
    phone_number: Text = Field(default=None)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _something(self) -> ErasureRequest:
        if not (self.id or self.email or self.phone_number):
            raise ValueError("give the person's id, email or phone_number")
        return self


class ErasureOut(BaseModel):
    kind: str
    record_key: str | None
    targets: dict[str, str]
    purged: dict[str, int] | None
    tombstones: int


def erasure_router(service: Service) -> APIRouter:
    router = APIRouter(tags=["privacy"])

    @router.post(
        "/erasure",
        response_model=list[ErasureOut],
        responses={
            400: {"description": "the body is not JSON"},
            404: {"description": "no flow syncs this kind"},
            502: {"description": "a target refused the deletion request: nothing was purged, retry"},
        },
    )
    async def erase(request: ErasureRequest) -> Any:
        """Erase a person: a deletion request at every target (Klaviyo: data-privacy deletion job),
        then their data is purged from the state store and the sync log and a tombstone of hashed
        identifiers refuses any later event for them."""
        try:
            results = await service.erase(
                request.kind, record_key=request.id, email=request.email, phone_number=request.phone_number
            )
        except ErasureFailed as exc:
            raise HTTPException(status_code=502, detail=exc.message) from None
        except CrmsyncError as exc:
            raise HTTPException(status_code=404, detail=exc.message) from None
        return [{**asdict(r), "purged": asdict(r.purged) if r.purged is not None else None} for r in results]

    @router.get(
        "/explain/{kind}/{record_id}",
        responses={404: {"description": "no flow syncs this kind"}},
    )
    async def explain_record(
        kind: Literal["customer", "order", "category", "product"],
        record_id: Annotated[str, FastPath(min_length=1, max_length=256)],
    ) -> dict[str, Any]:
        """What crmsync knows about one record: links, match rule, last delivered, history."""
        from crmsync.explain import explain

        try:
            return explain(service, kind, record_id)
        except ValueError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None

    return router
