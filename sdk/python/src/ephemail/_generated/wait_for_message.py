from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .fragments import MessageFields


class WaitForMessage(BaseModel):
    wait_for_message: Optional["WaitForMessageWaitForMessage"] = Field(
        alias="waitForMessage"
    )


WaitForMessageWaitForMessage = MessageFields
WaitForMessage.model_rebuild()
