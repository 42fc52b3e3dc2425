-- Search completion: rid-ordered driving indexes, canonical UCUM quantities
-- and composite groups.
--
-- (param, code) on a WITHOUT ROWID table is really (param, code, rid, n):
-- a token search by code alone (status=draft) can walk it in rid order, the
-- default result order, and stop at the page's LIMIT instead of collecting
-- and sorting every match. idx_token_code (param, code, system) already does
-- the same for system|code.
CREATE INDEX idx_token_param_code ON idx_token(param, code);

-- A UCUM quantity also in its canonical unit (mg → g, min → s …), so that
-- 5.4 mg and 5400 ug compare equal. canon_code is '' when the unit has no
-- canonical form in the store's owner's table (see fhir/search/ucum.go).
ALTER TABLE idx_quantity ADD COLUMN canon_code TEXT NOT NULL DEFAULT '';
ALTER TABLE idx_quantity ADD COLUMN canon_num  REAL NOT NULL DEFAULT 0;
ALTER TABLE idx_quantity ADD COLUMN canon_lo   REAL NOT NULL DEFAULT 0;
ALTER TABLE idx_quantity ADD COLUMN canon_hi   REAL NOT NULL DEFAULT 0;
CREATE INDEX idx_quantity_canon ON idx_quantity(param, canon_code, canon_lo, canon_hi);

-- Composite parameters: the entries of one composite value (one
-- Observation.component, say) share a group number, so code$value matches
-- within one component. 0 for every non-composite entry.
ALTER TABLE idx_token     ADD COLUMN grp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE idx_string    ADD COLUMN grp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE idx_date      ADD COLUMN grp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE idx_reference ADD COLUMN grp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE idx_number    ADD COLUMN grp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE idx_quantity  ADD COLUMN grp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE idx_uri       ADD COLUMN grp INTEGER NOT NULL DEFAULT 0;
