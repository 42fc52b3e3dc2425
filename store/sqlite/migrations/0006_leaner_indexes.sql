-- Fewer and smaller index B-trees per row written, and reference lookups
-- that go straight to the searched type.
--
-- Every write (an API transaction, an import line, each read's AuditEvent)
-- inserts its index rows into every secondary index of their table, and
-- those inserts were most of a write's cost.
--
-- Tokens: (param, code) alone serves a code and a system|code search (the
-- system is checked on the row, by primary key, for the few rows of one
-- code), so (param, code, system) went; a system| search with no code walks
-- the param's range of the same index, so (param, system) went too. Together
-- they were half the token B-tree inserts and a sixth of the database.
--
-- References: almost no row has an absolute url, and most have no
-- identifier, so those two indexes hold only the rows that do (partial
-- indexes: a query names the same condition to use them). The reference
-- index also keys on the referring resource's type (src_type, new), so that
-- Consent?patient=X no longer walks X's AuditEvents, which grow with every
-- read of the patient's record.
DELETE FROM deferred_index WHERE name IN
	('idx_token_code', 'idx_token_system', 'idx_reference_id', 'idx_reference_url', 'idx_reference_ident');
DROP INDEX IF EXISTS idx_token_code;
DROP INDEX IF EXISTS idx_token_system;
DROP INDEX IF EXISTS idx_reference_id;
DROP INDEX IF EXISTS idx_reference_url;
DROP INDEX IF EXISTS idx_reference_ident;

ALTER TABLE idx_reference ADD COLUMN src_type TEXT NOT NULL DEFAULT '';
UPDATE idx_reference SET src_type = (SELECT r.type FROM resource r WHERE r.rid = idx_reference.rid);

CREATE INDEX idx_reference_id ON idx_reference(param, ref_id, ref_type, src_type);
CREATE INDEX idx_reference_url ON idx_reference(param, url) WHERE url <> '';
CREATE INDEX idx_reference_ident ON idx_reference(param, code, system) WHERE code <> '' OR system <> '';
