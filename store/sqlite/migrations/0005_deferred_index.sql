-- Secondary indexes set aside during a bulk load (Store.DeferIndexes), with
-- the statement that recreates each. A row left here by a load that never
-- finished is recreated when the store is next opened.
CREATE TABLE deferred_index (
	name TEXT PRIMARY KEY,
	sql  TEXT NOT NULL
);
