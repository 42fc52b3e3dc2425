-- The first schema of the SQLite store.
--
-- resource holds one row per resource ever written: its current version
-- (deleted or not) and a pointer to that version's row in version. rid is the
-- resource's internal number: it never changes across versions, so index rows
-- key on it and search cursors use it as their unique tiebreaker.
CREATE TABLE resource (
	rid          INTEGER PRIMARY KEY,
	type         TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	last_updated INTEGER NOT NULL, -- microseconds since 1970 UTC
	deleted      INTEGER NOT NULL,
	cur_seq      INTEGER NOT NULL  -- version.seq of the current version
);
CREATE UNIQUE INDEX resource_type_id ON resource(type, id);
-- Type scans (a search with no indexed condition) walk this in rid order,
-- which is the default result order, so they need no sort.
CREATE INDEX resource_type_live ON resource(type, deleted);
CREATE INDEX resource_id ON resource(id);
CREATE INDEX resource_type_lu ON resource(type, last_updated);
CREATE INDEX resource_lu ON resource(last_updated);

-- version holds every version ever written, the JSON exactly as given. seq
-- is write order; history pages newest first by (last_updated, seq).
CREATE TABLE version (
	seq          INTEGER PRIMARY KEY,
	rid          INTEGER NOT NULL,
	type         TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	last_updated INTEGER NOT NULL,
	deleted      INTEGER NOT NULL,
	method       TEXT    NOT NULL,
	json         BLOB
);
CREATE UNIQUE INDEX version_type_id ON version(type, id, version);
CREATE INDEX version_type_lu ON version(type, last_updated);
CREATE INDEX version_lu ON version(last_updated);

-- Index tables: one per parameter type, rows for current versions only.
-- Each is clustered on (rid, n) so that replacing a resource's rows and the
-- correlated EXISTS probes of a search touch one short range; the secondary
-- indexes start with param and implicitly end with (rid, n), so every
-- condition is an index range scan that yields rids without a table lookup.
CREATE TABLE idx_token (
	rid    INTEGER NOT NULL,
	n      INTEGER NOT NULL,
	param  TEXT    NOT NULL,
	system TEXT    NOT NULL,
	code   TEXT    NOT NULL,
	text   TEXT    NOT NULL, -- lower case, for :text
	PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_token_code ON idx_token(param, code, system);
CREATE INDEX idx_token_system ON idx_token(param, system);

CREATE TABLE idx_string (
	rid   INTEGER NOT NULL,
	n     INTEGER NOT NULL,
	param TEXT    NOT NULL,
	norm  TEXT    NOT NULL,
	exact TEXT    NOT NULL,
	PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_string_norm ON idx_string(param, norm);
CREATE INDEX idx_string_exact ON idx_string(param, exact);

CREATE TABLE idx_date (
	rid   INTEGER NOT NULL,
	n     INTEGER NOT NULL,
	param TEXT    NOT NULL,
	lo    INTEGER NOT NULL, -- microseconds, open end = min int64
	hi    INTEGER NOT NULL, -- microseconds, exclusive, open end = max int64
	PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_date_lo ON idx_date(param, lo, hi);
CREATE INDEX idx_date_hi ON idx_date(param, hi, lo);

CREATE TABLE idx_reference (
	rid      INTEGER NOT NULL,
	n        INTEGER NOT NULL,
	param    TEXT    NOT NULL,
	ref_type TEXT    NOT NULL,
	ref_id   TEXT    NOT NULL,
	url      TEXT    NOT NULL,
	system   TEXT    NOT NULL, -- Reference.identifier, for :identifier
	code     TEXT    NOT NULL,
	PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_reference_id ON idx_reference(param, ref_id, ref_type);
CREATE INDEX idx_reference_url ON idx_reference(param, url);
CREATE INDEX idx_reference_ident ON idx_reference(param, code, system);

CREATE TABLE idx_number (
	rid   INTEGER NOT NULL,
	n     INTEGER NOT NULL,
	param TEXT    NOT NULL,
	num   REAL    NOT NULL,
	lo    REAL    NOT NULL,
	hi    REAL    NOT NULL,
	PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_number_lo ON idx_number(param, lo, hi);
CREATE INDEX idx_number_hi ON idx_number(param, hi, lo);

CREATE TABLE idx_quantity (
	rid    INTEGER NOT NULL,
	n      INTEGER NOT NULL,
	param  TEXT    NOT NULL,
	num    REAL    NOT NULL,
	lo     REAL    NOT NULL,
	hi     REAL    NOT NULL,
	system TEXT    NOT NULL,
	code   TEXT    NOT NULL,
	PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_quantity_lo ON idx_quantity(param, lo, hi);
CREATE INDEX idx_quantity_hi ON idx_quantity(param, hi, lo);

CREATE TABLE idx_uri (
	rid   INTEGER NOT NULL,
	n     INTEGER NOT NULL,
	param TEXT    NOT NULL,
	uri   TEXT    NOT NULL,
	PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_uri_uri ON idx_uri(param, uri);

-- The patient compartment of each current resource.
CREATE TABLE compartment (
	patient TEXT    NOT NULL,
	rid     INTEGER NOT NULL,
	PRIMARY KEY (patient, rid)
) WITHOUT ROWID;
CREATE INDEX compartment_rid ON compartment(rid);
