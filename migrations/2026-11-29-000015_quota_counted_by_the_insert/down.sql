DROP FUNCTION raise_quota_exceeded();
