DROP TABLE bucket_moves;
