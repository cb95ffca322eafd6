from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import ExtendInboxStatus
from .fragments import InboxFields


class ExtendInbox(BaseModel):
    extend_inbox: "ExtendInboxExtendInbox" = Field(alias="extendInbox")


class ExtendInboxExtendInbox(BaseModel):
    status: ExtendInboxStatus
    max_ttl_seconds: int = Field(alias="maxTtlSeconds")
    token: Optional[str]
    inbox: Optional["ExtendInboxExtendInboxInbox"]


ExtendInboxExtendInboxInbox = InboxFields
ExtendInbox.model_rebuild()
ExtendInboxExtendInbox.model_rebuild()
