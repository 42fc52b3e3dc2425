-- The full-text index keeps no copy of the text it indexes.
--
-- The words are extracted from the stored JSON at write time and the index
-- is only ever asked for rowids (MATCH), so the copy FTS5 kept by default
-- doubled what each write stored for nothing (a sixth of the database after
-- a bulk load). contentless_delete lets a new version replace its row;
-- detail=column keeps which column a word is in (text or content) but not
-- its positions, which the word-prefix queries of _text and _content never
-- use.
CREATE VIRTUAL TABLE idx_fts_new USING fts5(
	text,
	content,
	content = '',
	contentless_delete = 1,
	detail = column,
	tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO idx_fts_new(rowid, text, content) SELECT rowid, text, content FROM idx_fts;
DROP TABLE idx_fts;
ALTER TABLE idx_fts_new RENAME TO idx_fts;
