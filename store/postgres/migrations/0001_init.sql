-- The first schema of the PostgreSQL store: the same tables as the SQLite
-- store's (store/sqlite/migrations), in PostgreSQL's types.
--
-- Every text column is COLLATE "C": comparisons and sorts are by byte, as
-- SQLite's BINARY, whatever the database's locale, so both stores order
-- results alike, and prefix ranges (norm >= v AND norm < next(v)) are plain
-- btree ranges.
--
-- Times are microseconds since 1970 UTC in bigints, as in SQLite; an open
-- end of a date range is the bigint minimum or maximum.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- resource: one row per resource ever written, its current version (deleted
-- or not) and that version's row in version. rid never changes across
-- versions: index rows key on it and search cursors use it as tiebreaker.
CREATE TABLE resource (
	rid          bigint  PRIMARY KEY,
	type         text    COLLATE "C" NOT NULL,
	id           text    COLLATE "C" NOT NULL,
	version      bigint  NOT NULL,
	last_updated bigint  NOT NULL,
	deleted      boolean NOT NULL,
	cur_seq      bigint  NOT NULL
);
CREATE UNIQUE INDEX resource_type_id ON resource(type, id);
CREATE INDEX resource_type_live ON resource(type, rid) WHERE NOT deleted;
CREATE INDEX resource_id ON resource(id);
CREATE INDEX resource_type_lu ON resource(type, last_updated);
CREATE INDEX resource_lu ON resource(last_updated);

-- Numbers are drawn from sequences: writers run concurrently (SQLite's one
-- writer numbers rows itself). Gaps are harmless.
CREATE SEQUENCE resource_rid;
CREATE SEQUENCE version_seq;

-- version: every version ever written, the JSON exactly as given (bytea, so
-- not a byte changes). seq is write order; history pages newest first by
-- (last_updated, seq).
CREATE TABLE version (
	seq          bigint  PRIMARY KEY,
	rid          bigint  NOT NULL,
	type         text    COLLATE "C" NOT NULL,
	id           text    COLLATE "C" NOT NULL,
	version      bigint  NOT NULL,
	last_updated bigint  NOT NULL,
	deleted      boolean NOT NULL,
	method       text    NOT NULL,
	json         bytea
);
CREATE UNIQUE INDEX version_type_id ON version(type, id, version);
CREATE INDEX version_type_lu ON version(type, last_updated, seq);
CREATE INDEX version_lu ON version(last_updated, seq);

-- Index tables: one per parameter type, rows of current versions only. The
-- primary key (rid, n) serves a resource's replacement and the correlated
-- probes of a search; the secondary btrees start with param.
CREATE TABLE idx_token (
	rid    bigint  NOT NULL,
	n      integer NOT NULL,
	param  text    COLLATE "C" NOT NULL,
	system text    COLLATE "C" NOT NULL,
	code   text    COLLATE "C" NOT NULL,
	text   text    COLLATE "C" NOT NULL, -- lower case, for :text
	grp    integer NOT NULL,
	PRIMARY KEY (rid, n)
);
CREATE INDEX idx_token_code ON idx_token(param, code, rid);

CREATE TABLE idx_string (
	rid   bigint  NOT NULL,
	n     integer NOT NULL,
	param text    COLLATE "C" NOT NULL,
	norm  text    COLLATE "C" NOT NULL,
	exact text    COLLATE "C" NOT NULL,
	grp   integer NOT NULL,
	PRIMARY KEY (rid, n)
);
CREATE INDEX idx_string_norm ON idx_string(param, norm);
CREATE INDEX idx_string_exact ON idx_string(param, exact, rid);
-- :contains: trigrams answer LIKE '%v%' without reading every row.
CREATE INDEX idx_string_trgm ON idx_string USING gin (norm gin_trgm_ops);

CREATE TABLE idx_date (
	rid   bigint  NOT NULL,
	n     integer NOT NULL,
	param text    COLLATE "C" NOT NULL,
	lo    bigint  NOT NULL,
	hi    bigint  NOT NULL,
	grp   integer NOT NULL,
	PRIMARY KEY (rid, n)
);
CREATE INDEX idx_date_lo ON idx_date(param, lo, hi);
CREATE INDEX idx_date_hi ON idx_date(param, hi, lo);

CREATE TABLE idx_reference (
	rid      bigint  NOT NULL,
	n        integer NOT NULL,
	param    text    COLLATE "C" NOT NULL,
	ref_type text    COLLATE "C" NOT NULL,
	ref_id   text    COLLATE "C" NOT NULL,
	url      text    COLLATE "C" NOT NULL,
	system   text    COLLATE "C" NOT NULL, -- Reference.identifier, for :identifier
	code     text    COLLATE "C" NOT NULL,
	grp      integer NOT NULL,
	src_type text    COLLATE "C" NOT NULL, -- the referring resource's type
	PRIMARY KEY (rid, n)
);
CREATE INDEX idx_reference_id ON idx_reference(param, ref_id, ref_type, src_type, rid);
CREATE INDEX idx_reference_target ON idx_reference(ref_type, ref_id);
CREATE INDEX idx_reference_url ON idx_reference(param, url, rid) WHERE url <> '';
CREATE INDEX idx_reference_ident ON idx_reference(param, code, system, rid) WHERE code <> '' OR system <> '';

CREATE TABLE idx_number (
	rid   bigint           NOT NULL,
	n     integer          NOT NULL,
	param text             COLLATE "C" NOT NULL,
	num   double precision NOT NULL,
	lo    double precision NOT NULL,
	hi    double precision NOT NULL,
	grp   integer          NOT NULL,
	PRIMARY KEY (rid, n)
);
CREATE INDEX idx_number_lo ON idx_number(param, lo, hi);
CREATE INDEX idx_number_hi ON idx_number(param, hi, lo);

CREATE TABLE idx_quantity (
	rid        bigint           NOT NULL,
	n          integer          NOT NULL,
	param      text             COLLATE "C" NOT NULL,
	num        double precision NOT NULL,
	lo         double precision NOT NULL,
	hi         double precision NOT NULL,
	system     text             COLLATE "C" NOT NULL,
	code       text             COLLATE "C" NOT NULL,
	canon_code text             COLLATE "C" NOT NULL,
	canon_num  double precision NOT NULL,
	canon_lo   double precision NOT NULL,
	canon_hi   double precision NOT NULL,
	grp        integer          NOT NULL,
	PRIMARY KEY (rid, n)
);
CREATE INDEX idx_quantity_lo ON idx_quantity(param, lo, hi);
CREATE INDEX idx_quantity_hi ON idx_quantity(param, hi, lo);
CREATE INDEX idx_quantity_canon ON idx_quantity(param, canon_code, canon_lo, canon_hi);

CREATE TABLE idx_uri (
	rid   bigint  NOT NULL,
	n     integer NOT NULL,
	param text    COLLATE "C" NOT NULL,
	uri   text    COLLATE "C" NOT NULL,
	grp   integer NOT NULL,
	PRIMARY KEY (rid, n)
);
CREATE INDEX idx_uri_uri ON idx_uri(param, uri, rid);

-- Full text (_text, _content): the words of each column as lexemes, folded
-- and split by the store (see text.go) so that matching is the SQLite
-- store's; a GIN index answers the word-prefix queries (lexeme:*).
CREATE TABLE idx_text (
	rid     bigint   PRIMARY KEY,
	text    tsvector NOT NULL,
	content tsvector NOT NULL
);
CREATE INDEX idx_text_text ON idx_text USING gin (text);
CREATE INDEX idx_text_content ON idx_text USING gin (content);

-- The patient compartment of each current resource.
CREATE TABLE compartment (
	patient text   COLLATE "C" NOT NULL,
	rid     bigint NOT NULL,
	PRIMARY KEY (patient, rid)
);
CREATE INDEX compartment_rid ON compartment(rid);
