ALTER FUNCTION messages_deleted() RESET plan_cache_mode;
