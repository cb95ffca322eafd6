from typing import Optional

from .base_model import BaseModel
from .fragments import MessageFields


class Message(BaseModel):
    message: Optional["MessageMessage"]


MessageMessage = MessageFields
Message.model_rebuild()
