"""Data-privacy deletion requests: what was asked, when, and which profiles it removed.

"Request a deletion for the profiles corresponding to one of the following identifiers: ``email``,
``phone_number``, or ``id``. [...] All profiles that match the provided identifier will be deleted.
The deletion occurs asynchronously" (request_profile_deletion, revision 2026-07-15). A request that
matches nothing is still accepted and recorded (a GDPR erasure for someone the account never knew
is not an error); it deletes nothing. Deleting removes the profile, its identifiers (they can be
used by a new profile afterwards), its list memberships, consent and suppressions, and its events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crmsync.emulators.klaviyo.ids import now

if TYPE_CHECKING:
    from crmsync.emulators.klaviyo.store import Store

IDENTIFIER_KINDS = ("id", "email", "phone_number")


@dataclass(slots=True)
class DeletionRequest:
    id: str
    identifier: str  # id | email | phone_number
    value: str
    requested_at: datetime
    status: str = "queued"  # queued -> complete
    completed_at: datetime | None = None
    deleted_profile_ids: list[str] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "identifier": self.identifier,
            "value": self.value,
            "requested_at": self.requested_at,
            "status": self.status,
            "completed_at": self.completed_at,
            "deleted_profile_ids": list(self.deleted_profile_ids),
        }


def erase(store: Store, request: DeletionRequest) -> None:
    """Carry out a deletion request: delete every profile matching its identifier."""
    with store.lock:
        if request.identifier == "id":
            matched = [request.value] if request.value in store.profiles else []
        else:
            owner = store.owner(request.identifier, request.value)
            matched = [owner] if owner is not None else []
        for profile_id in matched:
            if store.delete_profile(profile_id):
                request.deleted_profile_ids.append(profile_id)
        request.status = "complete"
        request.completed_at = now()
