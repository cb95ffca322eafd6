from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import CreateInboxStatus
from .fragments import InboxFields


class CreateInbox(BaseModel):
    create_inbox: "CreateInboxCreateInbox" = Field(alias="createInbox")


class CreateInboxCreateInbox(BaseModel):
    status: CreateInboxStatus
    max_ttl_seconds: int = Field(alias="maxTtlSeconds")
    token: Optional[str]
    inbox: Optional["CreateInboxCreateInboxInbox"]


CreateInboxCreateInboxInbox = InboxFields
CreateInbox.model_rebuild()
CreateInboxCreateInbox.model_rebuild()
