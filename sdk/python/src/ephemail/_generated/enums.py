from enum import Enum


class CallerKind(str, Enum):
    ANONYMOUS = "ANONYMOUS"
    API_KEY = "API_KEY"
    INBOX_TOKEN = "INBOX_TOKEN"


class ContentLimit(str, Enum):
    ATTACHMENTS = "ATTACHMENTS"
    HEADER_FIELDS = "HEADER_FIELDS"
    HTML_NESTING = "HTML_NESTING"
    HTML_SIZE = "HTML_SIZE"
    TEXT_SIZE = "TEXT_SIZE"


class CreateApiKeyStatus(str, Enum):
    CREATED = "CREATED"
    TENANT_NOT_FOUND = "TENANT_NOT_FOUND"


class CreateInboxStatus(str, Enum):
    ADDRESS_RESERVED = "ADDRESS_RESERVED"
    ADDRESS_TAKEN = "ADDRESS_TAKEN"
    CREATED = "CREATED"
    DOMAIN_NOT_SERVED = "DOMAIN_NOT_SERVED"
    INVALID_LOCAL_PART = "INVALID_LOCAL_PART"
    TTL_TOO_LONG = "TTL_TOO_LONG"


class CreateInboxTokenStatus(str, Enum):
    CREATED = "CREATED"
    NOT_FOUND = "NOT_FOUND"


class CreateTenantStatus(str, Enum):
    CREATED = "CREATED"
    NAME_TAKEN = "NAME_TAKEN"


class CreateWebhookStatus(str, Enum):
    CREATED = "CREATED"
    INBOX_NOT_FOUND = "INBOX_NOT_FOUND"
    LIMIT_REACHED = "LIMIT_REACHED"


class DeleteStatus(str, Enum):
    DELETED = "DELETED"
    NOT_FOUND = "NOT_FOUND"


class DomainMode(str, Enum):
    CATCH_ALL = "CATCH_ALL"
    REGISTERED = "REGISTERED"


class ExtendInboxStatus(str, Enum):
    ADDRESS_RESERVED = "ADDRESS_RESERVED"
    EXTENDED = "EXTENDED"
    NOT_FOUND = "NOT_FOUND"
    TTL_TOO_LONG = "TTL_TOO_LONG"


class RevokeApiKeyStatus(str, Enum):
    NOT_FOUND = "NOT_FOUND"
    REVOKED = "REVOKED"


class Scope(str, Enum):
    ADMIN = "ADMIN"
    READ = "READ"
    WRITE = "WRITE"


class WebhookChangeStatus(str, Enum):
    DONE = "DONE"
    NOT_FOUND = "NOT_FOUND"


class WebhookDeliveryState(str, Enum):
    DEAD = "DEAD"
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"


class WebhookEvent(str, Enum):
    INBOX_EXPIRED = "INBOX_EXPIRED"
    MESSAGE_RECEIVED = "MESSAGE_RECEIVED"
