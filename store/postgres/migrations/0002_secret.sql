-- Keys every node of one database must share (the paging-cursor key),
-- made once by whichever node asks first (Store.Secret).
CREATE TABLE server_secret (
	name  text  PRIMARY KEY,
	value bytea NOT NULL
);
