-- Full-text search (_text, _content; R4 search.html#text).
--
-- One row per current resource that has narrative or string content, with
-- rowid = resource.rid. unicode61 with remove_diacritics 2 folds case and
-- accents on both the stored and the searched words, and FTS5 prefix
-- queries ("word"*) answer the word-prefix match from its own index, so no
-- LIKE scan over every resource's text is ever needed.
CREATE VIRTUAL TABLE idx_fts USING fts5(
	text,
	content,
	tokenize = 'unicode61 remove_diacritics 2'
);
