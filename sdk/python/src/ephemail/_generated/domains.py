from .base_model import BaseModel
from .enums import DomainMode


class Domains(BaseModel):
    domains: list["DomainsDomains"]


class DomainsDomains(BaseModel):
    name: str
    mode: DomainMode


Domains.model_rebuild()
