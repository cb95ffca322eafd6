from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .fragments import MessageFields


class Messages(BaseModel):
    messages: "MessagesMessages"


class MessagesMessages(BaseModel):
    total_count: int = Field(alias="totalCount")
    page_info: "MessagesMessagesPageInfo" = Field(alias="pageInfo")
    nodes: list["MessagesMessagesNodes"]


class MessagesMessagesPageInfo(BaseModel):
    has_next_page: bool = Field(alias="hasNextPage")
    end_cursor: Optional[str] = Field(alias="endCursor")


MessagesMessagesNodes = MessageFields
Messages.model_rebuild()
MessagesMessages.model_rebuild()
