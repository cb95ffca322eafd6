DROP FUNCTION raise_remembered_changed();
