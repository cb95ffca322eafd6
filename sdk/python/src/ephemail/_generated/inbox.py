from typing import Optional

from .base_model import BaseModel
from .fragments import InboxFields


class Inbox(BaseModel):
    inbox: Optional["InboxInbox"]


InboxInbox = InboxFields
Inbox.model_rebuild()
