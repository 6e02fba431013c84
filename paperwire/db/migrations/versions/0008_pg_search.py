"""Search in PostgreSQL: the index lives in the database, kept current by triggers.

PostgreSQL only (a no-op on SQLite, where search lives in index files).  What
it creates, described in ``docs/search.md`` ("Server mode"):

- extensions ``vector`` (pgvector) and ``unaccent``;
- text search configurations ``search_words`` (Snowball English stemming, no
  stopwords) and ``search_names`` (no stemming), fed by ``search_norm``, which
  folds accents and splits at every character that is not a letter or digit,
  as the embedded tantivy analyzer does;
- ``search_docs``: one row per searchable paper (filters, weighted tsvector,
  author tsvector, BM25 term impacts as a ``sparsevec``, the current
  ``halfvec(384)`` embedding), with GIN and HNSW indexes;
- ``search_terms`` (document frequency per lexeme, per field; category counts),
  ``search_stats`` (document count, total lengths) and ``search_version``
  (a change counter readers key their caches by);
- statement-level triggers on ``papers`` and ``paper_embeddings`` that bring
  all of it up to date inside the writing transaction, and ``search_rebuild()``
  for repair.

Spelled out here rather than taken from a module, so later edits cannot change
what this migration creates.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Token types of PostgreSQL's default parser.  After search_norm only runs of
# letters and digits separated by spaces reach it, but every type is mapped so
# that nothing is silently dropped.
_TOKEN_TYPES = (
    "asciiword, word, numword, asciihword, hword, numhword, hword_asciipart, hword_part,"
    " hword_numpart, email, protocol, url, host, url_path, file, sfloat, float, int, uint,"
    " version, tag, entity"
)

UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS vector",
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    # -- tokenising: one pipeline for documents and query words -------------------
    "CREATE TEXT SEARCH DICTIONARY search_stem (TEMPLATE = snowball, LANGUAGE = english)",
    "CREATE TEXT SEARCH CONFIGURATION search_words (PARSER = pg_catalog.default)",
    f"ALTER TEXT SEARCH CONFIGURATION search_words ADD MAPPING FOR {_TOKEN_TYPES} WITH search_stem",
    "CREATE TEXT SEARCH CONFIGURATION search_names (PARSER = pg_catalog.default)",
    f"ALTER TEXT SEARCH CONFIGURATION search_names ADD MAPPING FOR {_TOKEN_TYPES} WITH simple",
    # Accents folded, then every run of non-alphanumerics is a word break (the
    # embedded analyzer: tantivy's simple tokenizer, ascii folding, tokens of
    # 60 bytes and more removed).
    r"""
    CREATE FUNCTION search_norm(t text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT regexp_replace(
        regexp_replace(unaccent('unaccent'::regdictionary, coalesce(t, '')),
                       '[^[:alnum:]]+', ' ', 'g'),
        '[[:alnum:]]{60,}', ' ', 'g')
    $$
    """,
    # The 63-bit key search hands out for a paper (paperwire.search.postgres.key_of).
    """
    CREATE FUNCTION search_key(id text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT ('x' || left(md5(id), 16))::bit(64)::bigint & 9223372036854775807
    $$
    """,
    # Title (weight A) and abstract (weight D), with a position gap between them
    # so that no phrase spans the two.
    """
    CREATE FUNCTION search_text_vector(title text, abstract text) RETURNS tsvector
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT ts_delete(
        setweight(to_tsvector('search_words', search_norm(title)), 'A')
        || to_tsvector('search_words', 'zzgapzz')
        || to_tsvector('search_words', search_norm(abstract)),
        'zzgapzz')
    $$
    """,
    # Author names, unstemmed, with a gap between two names.
    """
    CREATE FUNCTION search_author_vector(authors json) RETURNS tsvector
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT ts_delete(to_tsvector('search_names',
               coalesce(string_agg(search_norm(a), ' zzgapzz ' ORDER BY n), '')), 'zzgapzz')
      FROM json_array_elements_text(
             CASE json_typeof(authors) WHEN 'array' THEN authors ELSE '[]'::json END)
           WITH ORDINALITY AS x(a, n)
    $$
    """,
    # Categories, lower-cased, each with its archive ('cs.cl' and 'cs').
    """
    CREATE FUNCTION search_categories(categories json) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT coalesce(array_agg(DISTINCT t ORDER BY t), '{}')
      FROM (SELECT lower(btrim(c)) AS c
              FROM json_array_elements_text(
                     CASE json_typeof(categories) WHEN 'array' THEN categories
                     ELSE '[]'::json END) AS c) x,
           LATERAL (VALUES (x.c), (split_part(x.c, '.', 1))) v(t)
      WHERE x.c <> ''
    $$
    """,
    """
    CREATE FUNCTION search_has_code(code_links json) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE json_typeof(code_links) WHEN 'array' THEN json_array_length(code_links) > 0
             WHEN 'null' THEN false ELSE code_links IS NOT NULL END
    $$
    """,
    # The stored little-endian float16 BLOB as a halfvec (NULL if it is not 384
    # finite numbers: such a vector is left out of search, not an error).
    """
    CREATE FUNCTION search_halfvec(v bytea) RETURNS halfvec
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN bool_or(e = 31) THEN NULL
             ELSE array_agg((CASE WHEN e = 0 THEN m * 5.9604644775390625e-08::float8
                                  ELSE (m + 1024) * power(2::float8, e - 25) END)
                            * (1 - 2 * s) ORDER BY i)::real[]::halfvec(384) END
      FROM (SELECT i, w >> 15 AS s, (w >> 10) & 31 AS e, w & 1023 AS m
              FROM (SELECT i, get_byte(v, 2 * i) | (get_byte(v, 2 * i + 1) << 8) AS w
                      FROM generate_series(0, 383) AS i) words) parts
      WHERE length(v) = 768
    $$
    """,
    # -- tables -------------------------------------------------------------
    # One row per searchable paper.  Nothing in it is indexed that a vote
    # changes, so a vote is a HOT update (room is left on each page for it).
    """
    CREATE TABLE search_docs (
      paper_id varchar(64) PRIMARY KEY,
      key bigint NOT NULL,
      content_hash varchar(32) NOT NULL,
      day integer,
      upvotes integer NOT NULL,
      has_code boolean NOT NULL,
      cats text[] NOT NULL,
      title_len integer NOT NULL,
      text_len integer NOT NULL,
      author_len integer NOT NULL,
      tsv tsvector NOT NULL,
      atsv tsvector NOT NULL,
      impacts sparsevec NOT NULL
    ) WITH (fillfactor = 75)
    """,
    "ALTER TABLE search_docs ALTER COLUMN impacts SET STORAGE MAIN",
    "CREATE UNIQUE INDEX search_docs_key ON search_docs (key)",
    "CREATE INDEX search_docs_tsv ON search_docs USING gin (tsv)",
    "CREATE INDEX search_docs_atsv ON search_docs USING gin (atsv)",
    "CREATE INDEX search_docs_cats ON search_docs USING gin (cats)",
    "CREATE INDEX search_docs_day ON search_docs (day)",
    "CREATE INDEX search_docs_newest ON search_docs"
    " ((greatest(coalesce(day, 0), 0)) DESC, key DESC)",
    # The current vector of each paper that has one, beside copies of the filter
    # columns (an HNSW scan filters on its own table's rows).
    """
    CREATE TABLE search_vectors (
      key bigint PRIMARY KEY,
      paper_id varchar(64) NOT NULL UNIQUE,
      model_id varchar(128) NOT NULL,
      day integer,
      upvotes integer NOT NULL,
      has_code boolean NOT NULL,
      cats text[] NOT NULL,
      embedding halfvec(384) NOT NULL
    ) WITH (fillfactor = 85)
    """,
    "ALTER TABLE search_vectors ALTER COLUMN embedding SET STORAGE PLAIN",
    "CREATE INDEX search_vectors_model ON search_vectors (model_id)",
    "CREATE INDEX search_vectors_cats ON search_vectors USING gin (cats)",
    "CREATE INDEX search_vectors_embedding ON search_vectors USING hnsw (embedding halfvec_ip_ops)",
    # Document frequency per field: 't' title and abstract, 'a' author names,
    # 'c' categories (so category counts of the whole catalog are free).
    """
    CREATE TABLE search_terms (
      id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
      field "char" NOT NULL,
      lexeme text NOT NULL,
      df integer NOT NULL,
      listed integer NOT NULL DEFAULT 0,
      floor real NOT NULL DEFAULT 0,
      UNIQUE (field, lexeme)
    ) WITH (fillfactor = 70)
    """,
    # Champion lists: for each term in more than ``search_stats.champions``
    # papers, the papers where it weighs most (its BM25 impact), between that
    # many and twice as many.  Every paper left out has an impact of at most
    # ``search_terms.floor`` for the term, so a query over common words scores
    # a few thousand candidates instead of every match, and knows how much it
    # may have missed.
    """
    CREATE TABLE search_champions (
      term_id integer NOT NULL,
      impact real NOT NULL,
      key bigint NOT NULL,
      PRIMARY KEY (term_id, key)
    )
    """,
    "CREATE INDEX search_champions_top ON search_champions (term_id, impact DESC, key)",
    "CREATE INDEX search_champions_key ON search_champions (key)",
    """
    CREATE TABLE search_stats (
      id integer PRIMARY KEY CHECK (id = 1),
      docs bigint NOT NULL,
      title_len bigint NOT NULL,
      text_len bigint NOT NULL,
      author_len bigint NOT NULL,
      champions integer NOT NULL
    )
    """,
    "INSERT INTO search_stats VALUES (1, 0, 0, 0, 0, 1000)",
    # Bumped by every transaction that changes what search answers; readers
    # key their caches by the sum (MVCC: a sum is seen exactly when the data is).
    # Slots by backend, so concurrent writers rarely share a row.
    """
    CREATE TABLE search_version (slot integer PRIMARY KEY, v bigint NOT NULL)
    WITH (fillfactor = 50)
    """,
    "INSERT INTO search_version SELECT s, 0 FROM generate_series(0, 63) s",
    # Papers a transaction changed, indexed when it commits (a deferred trigger
    # on search_flushes, one row per transaction).  Unlogged: the rows never
    # outlive their transaction.
    """
    CREATE UNLOGGED TABLE search_queue (
      xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
      paper_id text NOT NULL,
      vectors boolean NOT NULL
    )
    """,
    "CREATE INDEX search_queue_xid ON search_queue (xid)",
    "CREATE UNLOGGED TABLE search_flushes (xid xid8 PRIMARY KEY)",
    # -- indexing -------------------------------------------------------------------
    # A document length as tantivy stores it: one byte on a log scale (exact up
    # to 31 tokens, then the top four bits), the same scheme as Lucene.
    """
    CREATE FUNCTION search_fieldnorm(dl float8) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN dl < 32 THEN dl
             ELSE 24 + (((dl::bigint - 24)
                         >> (floor(ln(dl - 24) / ln(2::float8) + 1e-12)::int - 3))
                        << (floor(ln(dl - 24) / ln(2::float8) + 1e-12)::int - 3)) END
    $$
    """,
    # BM25 of one term or phrase: tantivy's k1 = 1.2, b = 0.75, its quantised
    # document length; ``weight`` is idf·(k1+1) (summed over a phrase's terms).
    """
    CREATE FUNCTION search_bm25(tf float8, dl float8, avgdl float8, weight float8)
    RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT weight * tf
             / (tf + 1.2 * (0.25 + 0.75 * search_fieldnorm(dl) / greatest(avgdl, 1e-9)))
    $$
    """,
    # How often ``lexemes`` occur as a phrase in ``v`` (title occurrences twice,
    # as in the BM25F text field; with ``title_only`` the title alone, once).
    """
    CREATE FUNCTION search_phrase_freq(v tsvector, lexemes text[], title_only boolean)
    RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      WITH p AS MATERIALIZED (
        SELECT u.lexeme, x.pos, x.w
          FROM unnest(v) u, unnest(u.positions, u.weights) AS x(pos, w)
         WHERE u.lexeme = ANY(lexemes) AND (NOT title_only OR x.w = 'A'))
      SELECT coalesce(sum(CASE WHEN s.w = 'A' AND NOT title_only THEN 2 ELSE 1 END), 0)::float8
        FROM p s
       WHERE s.lexeme = lexemes[1]
         AND NOT EXISTS (SELECT 1 FROM generate_series(2, cardinality(lexemes)) j
                          WHERE NOT EXISTS (SELECT 1 FROM p q
                                             WHERE q.lexeme = lexemes[j] AND q.pos = s.pos + j - 1))
    $$
    """,
    # The champion lists after a batch (search_index's temp tables): entries of
    # papers removed or rewritten go, new impacts above a list's floor join it,
    # a term that just became common gets its list (its best ``size`` papers,
    # found through the GIN index), as does one that lost half of its list, and
    # a list that reached twice its size is cut back to its best ``size``.
    """
    CREATE FUNCTION search_index_champions(size integer) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      term record;
      cut record;
      q tsquery;
      one sparsevec;
    BEGIN
      CREATE TEMP TABLE IF NOT EXISTS search_touched (term_id integer) ON COMMIT DELETE ROWS;
      DELETE FROM search_touched;
      WITH gone AS (
        DELETE FROM search_champions c
         WHERE c.key IN (SELECT key FROM search_batch WHERE existed)
        RETURNING c.term_id),
      counted AS (SELECT term_id, count(*) AS n FROM gone GROUP BY term_id),
      updated AS (
        UPDATE search_terms t SET listed = t.listed - g.n FROM counted g
         WHERE t.id = g.term_id)
      INSERT INTO search_touched SELECT term_id FROM counted;
      INSERT INTO search_touched SELECT DISTINCT term_id FROM search_weights;
      WITH added AS (
        INSERT INTO search_champions (term_id, impact, key)
        SELECT w.term_id, w.impact, w.key
          FROM search_weights w JOIN search_terms t ON t.id = w.term_id
         WHERE t.listed > 0 AND w.impact > t.floor
        RETURNING term_id)
      UPDATE search_terms t SET listed = t.listed + a.n
        FROM (SELECT term_id, count(*) AS n FROM added GROUP BY term_id) a
       WHERE t.id = a.term_id;
      FOR term IN
        SELECT id, field, lexeme FROM search_terms
         WHERE id IN (SELECT term_id FROM search_touched)
           AND field IN ('t', 'a') AND df > size AND listed < size / 2
         ORDER BY id
      LOOP
        q := quote_literal(term.lexeme)::tsquery;
        one := format('{%s:1}/1000000000', term.id)::sparsevec;
        DELETE FROM search_champions WHERE term_id = term.id;
        CREATE TEMP TABLE IF NOT EXISTS search_ranked (key bigint, impact real)
          ON COMMIT DELETE ROWS;
        DELETE FROM search_ranked;
        IF term.field = 't' THEN
          INSERT INTO search_ranked SELECT key, -(impacts <#> one) FROM search_docs
           WHERE tsv @@ q ORDER BY 2 DESC, key LIMIT size + 1;
        ELSE
          INSERT INTO search_ranked SELECT key, -(impacts <#> one) FROM search_docs
           WHERE atsv @@ q ORDER BY 2 DESC, key LIMIT size + 1;
        END IF;
        INSERT INTO search_champions (term_id, impact, key)
        SELECT term.id, impact, key FROM search_ranked ORDER BY impact DESC, key LIMIT size;
        UPDATE search_terms
           SET listed = (SELECT count(*) FROM search_champions WHERE term_id = term.id),
               floor = coalesce((SELECT impact FROM search_ranked
                                  ORDER BY impact DESC, key OFFSET size LIMIT 1), 0)
         WHERE id = term.id;
      END LOOP;
      FOR term IN
        SELECT id FROM search_terms
         WHERE id IN (SELECT term_id FROM search_touched) AND listed >= 2 * size
         ORDER BY id
      LOOP
        SELECT impact, key INTO cut FROM search_champions WHERE term_id = term.id
         ORDER BY impact DESC, key LIMIT 1 OFFSET size - 1;
        DELETE FROM search_champions
         WHERE term_id = term.id
           AND (impact < cut.impact OR (impact = cut.impact AND key > cut.key));
        UPDATE search_terms SET listed = size, floor = greatest(floor, cut.impact)
         WHERE id = term.id;
      END LOOP;
    END $$
    """,
    # Brings search_docs, search_vectors and the statistics up to date for
    # ``ids``: papers inserted, changed, hidden (``papers.hidden_at``, where that
    # column exists) or deleted.  Idempotent: papers whose rows are current cost
    # a join.  Term statistics are written by one transaction at a time (the
    # stats row is locked first), in one fixed order.
    r"""
    CREATE FUNCTION search_index(ids text[]) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      st search_stats%ROWTYPE;
      touched bigint := 0;
      n bigint;
      avg_text float8;
      avg_author float8;
    BEGIN
      IF coalesce(cardinality(ids), 0) = 0 THEN
        RETURN;
      END IF;
      SET LOCAL work_mem = '64MB';
      IF to_regclass('pg_temp.search_wanted') IS NULL THEN
        CREATE TEMP TABLE search_wanted (
          paper_id text PRIMARY KEY, key bigint, content_hash text, day integer,
          upvotes integer, has_code boolean, cats text[]
        ) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE search_batch (
          paper_id text PRIMARY KEY, key bigint, present boolean, existed boolean,
          tsv tsvector, atsv tsvector, title_len integer, text_len integer,
          author_len integer, impacts sparsevec, old_tsv tsvector, old_atsv tsvector,
          old_cats text[], old_title_len integer, old_text_len integer, old_author_len integer
        ) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE search_postings (
          paper_id text, field "char", lexeme text, tf float8, title_tf integer
        ) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE search_weights (
          paper_id text, key bigint, term_id integer, impact real
        ) ON COMMIT DELETE ROWS;
      END IF;
      DELETE FROM search_wanted;
      DELETE FROM search_batch;
      DELETE FROM search_postings;
      DELETE FROM search_weights;
      INSERT INTO search_wanted
        SELECT p.id, search_key(p.id), p.content_hash,
               coalesce(p.listed_on, p.submitted) - DATE '1970-01-01',
               p.upvotes, search_has_code(p.code_links), search_categories(p.categories)
          FROM papers p
         WHERE p.id = ANY(ids) AND (to_jsonb(p) ->> 'hidden_at') IS NULL;
      IF EXISTS (SELECT 1 FROM search_wanted w
                   FULL JOIN (SELECT paper_id, content_hash, cats FROM search_docs
                               WHERE paper_id = ANY(ids)) d ON d.paper_id = w.paper_id
                  WHERE w.paper_id IS NULL OR d.paper_id IS NULL
                     OR w.content_hash <> d.content_hash OR w.cats <> d.cats) THEN
        PERFORM 1 FROM search_stats WHERE id = 1 FOR UPDATE;
      END IF;
      PERFORM 1 FROM search_docs WHERE paper_id = ANY(ids) ORDER BY paper_id FOR UPDATE;
      -- Votes, dates, code links: the filter columns only.
      UPDATE search_docs d
         SET day = w.day, upvotes = w.upvotes, has_code = w.has_code
        FROM search_wanted w
       WHERE d.paper_id = w.paper_id AND d.content_hash = w.content_hash AND d.cats = w.cats
         AND (d.day, d.upvotes, d.has_code) IS DISTINCT FROM (w.day, w.upvotes, w.has_code);
      GET DIAGNOSTICS touched = ROW_COUNT;
      IF touched > 0 THEN
        PERFORM 1 FROM search_vectors WHERE paper_id = ANY(ids) ORDER BY paper_id FOR UPDATE;
        UPDATE search_vectors v
           SET day = w.day, upvotes = w.upvotes, has_code = w.has_code
          FROM search_wanted w
         WHERE v.paper_id = w.paper_id
           AND (v.day, v.upvotes, v.has_code) IS DISTINCT FROM (w.day, w.upvotes, w.has_code);
      END IF;
      -- Text, categories or presence changed: the rest is rebuilt from the paper.
      INSERT INTO search_batch
        SELECT coalesce(w.paper_id, d.paper_id), coalesce(w.key, d.key),
               w.paper_id IS NOT NULL, d.paper_id IS NOT NULL,
               v.tsv, v.atsv, 0, 0, 0, NULL,
               d.tsv, d.atsv, d.cats, d.title_len, d.text_len, d.author_len
          FROM search_wanted w
          FULL JOIN (SELECT * FROM search_docs WHERE paper_id = ANY(ids)) d
            ON d.paper_id = w.paper_id
          LEFT JOIN LATERAL (
            SELECT search_text_vector(left(p.title, 2000), left(p.abstract, 40000)) AS tsv,
                   search_author_vector(p.authors) AS atsv
              FROM papers p WHERE p.id = w.paper_id) v ON true
         WHERE w.paper_id IS NULL OR d.paper_id IS NULL
            OR w.content_hash <> d.content_hash OR w.cats <> d.cats;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n = 0 THEN
        IF touched > 0 THEN
          UPDATE search_version SET v = v + 1 WHERE slot = pg_backend_pid() % 64;
        END IF;
        RETURN;
      END IF;
      INSERT INTO search_postings
        SELECT b.paper_id, 't', u.lexeme, cardinality(u.positions) + a.n, a.n
          FROM search_batch b, unnest(b.tsv) u,
               LATERAL (SELECT cardinality(array_positions(u.weights, 'A')) AS n) a
         WHERE b.present
        UNION ALL
        SELECT b.paper_id, 'a', u.lexeme, cardinality(u.positions), 0
          FROM search_batch b, unnest(b.atsv) u WHERE b.present;
      IF n > 50 THEN
        ANALYZE search_postings;
      END IF;
      UPDATE search_batch b
         SET title_len = l.title_len, text_len = l.text_len, author_len = l.author_len
        FROM (SELECT paper_id, sum(title_tf) AS title_len,
                     coalesce(sum(tf) FILTER (WHERE field = 't'), 0) AS text_len,
                     coalesce(sum(tf) FILTER (WHERE field = 'a'), 0) AS author_len
                FROM search_postings GROUP BY paper_id) l
       WHERE b.paper_id = l.paper_id;
      UPDATE search_stats s
         SET docs = s.docs + x.docs, title_len = s.title_len + x.title_len,
             text_len = s.text_len + x.text_len, author_len = s.author_len + x.author_len
        FROM (SELECT count(*) FILTER (WHERE present) - count(*) FILTER (WHERE existed) AS docs,
                     coalesce(sum(title_len) FILTER (WHERE present), 0)
                       - coalesce(sum(old_title_len) FILTER (WHERE existed), 0) AS title_len,
                     coalesce(sum(text_len) FILTER (WHERE present), 0)
                       - coalesce(sum(old_text_len) FILTER (WHERE existed), 0) AS text_len,
                     coalesce(sum(author_len) FILTER (WHERE present), 0)
                       - coalesce(sum(old_author_len) FILTER (WHERE existed), 0) AS author_len
                FROM search_batch) x
       WHERE s.id = 1
      RETURNING s.* INTO st;
      INSERT INTO search_terms AS t (field, lexeme, df)
      SELECT field, lexeme, sum(delta)::integer FROM (
          SELECT field, lexeme, 1 AS delta FROM search_postings
          UNION ALL SELECT 't', u.lexeme, -1
            FROM search_batch b, unnest(b.old_tsv) u WHERE b.existed
          UNION ALL SELECT 'a', u.lexeme, -1
            FROM search_batch b, unnest(b.old_atsv) u WHERE b.existed
          UNION ALL SELECT 'c', c, 1
            FROM search_batch b JOIN search_wanted w USING (paper_id), unnest(w.cats) c
           WHERE b.present
          UNION ALL SELECT 'c', c, -1 FROM search_batch b, unnest(b.old_cats) c WHERE b.existed
        ) deltas
       GROUP BY field, lexeme HAVING sum(delta) <> 0
       ORDER BY field, lexeme
      ON CONFLICT (field, lexeme) DO UPDATE SET df = greatest(t.df + excluded.df, 0);
      -- BM25 impacts: tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)) per term, the
      -- average lengths including this batch; at most 16,000 terms a paper
      -- (pgvector's limit; only author lists of thousands reach it), the strongest.
      IF EXISTS (SELECT 1 FROM search_batch WHERE length(tsv) + length(atsv) > 16000) THEN
        DELETE FROM search_postings WHERE ctid IN (
          SELECT ctid FROM (SELECT ctid, row_number() OVER (PARTITION BY paper_id
                                                        ORDER BY tf DESC, lexeme) AS r
                              FROM search_postings
                             WHERE paper_id IN (SELECT paper_id FROM search_postings
                                                 GROUP BY paper_id HAVING count(*) > 16000)) x
           WHERE r > 16000);
      END IF;
      avg_text := greatest(st.text_len::float8 / greatest(st.docs, 1), 1e-9);
      avg_author := greatest(st.author_len::float8 / greatest(st.docs, 1), 1e-9);
      INSERT INTO search_weights
        SELECT p.paper_id, b.key, t.id,
               (p.tf * 2.2 / (p.tf + 1.2 * (0.25 + 0.75 * CASE p.field
                   WHEN 't' THEN search_fieldnorm(b.text_len) / avg_text
                   ELSE search_fieldnorm(b.author_len) / avg_author END)))::real
          FROM search_postings p
          JOIN search_batch b ON b.paper_id = p.paper_id
          JOIN search_terms t ON t.field = p.field AND t.lexeme = p.lexeme;
      UPDATE search_batch b SET impacts = x.impacts
        FROM (SELECT paper_id, format('{%s}/1000000000',
                                      string_agg(term_id || ':' || impact, ','))::sparsevec
                                 AS impacts
                FROM search_weights GROUP BY paper_id) x
       WHERE b.paper_id = x.paper_id;
      DELETE FROM search_docs d USING search_batch b
       WHERE d.paper_id = b.paper_id AND NOT b.present;
      INSERT INTO search_docs AS d
        SELECT w.paper_id, w.key, w.content_hash, w.day, w.upvotes, w.has_code, w.cats,
               b.title_len, b.text_len, b.author_len, b.tsv, b.atsv,
               coalesce(b.impacts, '{}/1000000000')
          FROM search_batch b JOIN search_wanted w ON w.paper_id = b.paper_id
         WHERE b.present
        ON CONFLICT (paper_id) DO UPDATE SET
          key = excluded.key, content_hash = excluded.content_hash, day = excluded.day,
          upvotes = excluded.upvotes, has_code = excluded.has_code, cats = excluded.cats,
          title_len = excluded.title_len, text_len = excluded.text_len,
          author_len = excluded.author_len, tsv = excluded.tsv, atsv = excluded.atsv,
          impacts = excluded.impacts;
      PERFORM search_index_champions(st.champions);
      PERFORM search_index_vectors(ARRAY(SELECT paper_id FROM search_batch ORDER BY paper_id));
      UPDATE search_version SET v = v + 1 WHERE slot = pg_backend_pid() % 64;
    END $$
    """,
    # The vector rows of ``ids``: a paper's stored embedding counts when it was
    # made from the paper's current text.  Unchanged vectors are not rewritten.
    """
    CREATE FUNCTION search_index_vectors(ids text[]) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      n bigint;
      m bigint;
    BEGIN
      IF coalesce(cardinality(ids), 0) = 0 THEN
        RETURN;
      END IF;
      PERFORM 1 FROM search_vectors WHERE paper_id = ANY(ids) ORDER BY paper_id FOR UPDATE;
      DELETE FROM search_vectors v
       WHERE v.paper_id = ANY(ids)
         AND NOT EXISTS (SELECT 1 FROM search_docs d
                           JOIN paper_embeddings e
                             ON e.paper_id = d.paper_id AND e.content_hash = d.content_hash
                          WHERE d.paper_id = v.paper_id AND e.model_id = v.model_id);
      GET DIAGNOSTICS n = ROW_COUNT;
      INSERT INTO search_vectors AS v
        SELECT d.key, d.paper_id, e.model_id, d.day, d.upvotes, d.has_code, d.cats, hv.v
          FROM search_docs d
          JOIN paper_embeddings e ON e.paper_id = d.paper_id AND e.content_hash = d.content_hash
          CROSS JOIN LATERAL (SELECT search_halfvec(e.vector) AS v) hv
         WHERE d.paper_id = ANY(ids) AND hv.v IS NOT NULL
        ON CONFLICT (key) DO UPDATE SET
          paper_id = excluded.paper_id, model_id = excluded.model_id, day = excluded.day,
          upvotes = excluded.upvotes, has_code = excluded.has_code, cats = excluded.cats,
          embedding = excluded.embedding
        WHERE (v.model_id, v.day, v.upvotes, v.has_code, v.cats, v.embedding)
              IS DISTINCT FROM (excluded.model_id, excluded.day, excluded.upvotes,
                                excluded.has_code, excluded.cats, excluded.embedding);
      GET DIAGNOSTICS m = ROW_COUNT;
      IF n + m > 0 THEN
        UPDATE search_version SET v = v + 1 WHERE slot = pg_backend_pid() % 64;
      END IF;
    END $$
    """,
    # Row triggers would index one paper at a time; statement triggers queue the
    # ids, and one deferred trigger indexes them all when the transaction commits.
    """
    CREATE FUNCTION search_enqueue(ids text[], vectors boolean) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
      IF coalesce(cardinality(ids), 0) = 0 THEN
        RETURN;
      END IF;
      INSERT INTO search_queue (paper_id, vectors) SELECT unnest(ids), vectors;
      INSERT INTO search_flushes VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
    END $$
    """,
    """
    CREATE FUNCTION search_papers_written() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        PERFORM search_enqueue(ARRAY(SELECT id FROM old_rows), false);
      ELSE
        PERFORM search_enqueue(ARRAY(SELECT id FROM new_rows), false);
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION search_embeddings_written() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        PERFORM search_enqueue(ARRAY(SELECT paper_id FROM old_rows), true);
      ELSE
        PERFORM search_enqueue(ARRAY(SELECT paper_id FROM new_rows), true);
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION search_flush() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      papers_ids text[];
      vector_ids text[];
    BEGIN
      DELETE FROM search_flushes WHERE xid = NEW.xid;
      WITH q AS (DELETE FROM search_queue WHERE xid = NEW.xid RETURNING paper_id, vectors)
      SELECT array_agg(DISTINCT paper_id) FILTER (WHERE NOT vectors),
             array_agg(DISTINCT paper_id) FILTER (WHERE vectors)
        INTO papers_ids, vector_ids FROM q;
      PERFORM search_index(ARRAY(SELECT unnest(papers_ids) ORDER BY 1));
      PERFORM search_index_vectors(
        ARRAY(SELECT unnest(vector_ids) EXCEPT SELECT unnest(papers_ids) ORDER BY 1));
      RETURN NULL;
    END $$
    """,
    "CREATE CONSTRAINT TRIGGER search_flush AFTER INSERT ON search_flushes"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_flush()",
    "CREATE TRIGGER search_papers_inserted AFTER INSERT ON papers"
    " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION search_papers_written()",
    "CREATE TRIGGER search_papers_updated AFTER UPDATE ON papers"
    " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION search_papers_written()",
    "CREATE TRIGGER search_papers_deleted AFTER DELETE ON papers"
    " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION search_papers_written()",
    "CREATE TRIGGER search_embeddings_inserted AFTER INSERT ON paper_embeddings"
    " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION search_embeddings_written()",
    "CREATE TRIGGER search_embeddings_updated AFTER UPDATE ON paper_embeddings"
    " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION search_embeddings_written()",
    "CREATE TRIGGER search_embeddings_deleted AFTER DELETE ON paper_embeddings"
    " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION search_embeddings_written()",
    # -- repair -------------------------------------------------------------------
    # Everything recomputed from the catalog in one transaction (readers keep
    # the old index until it commits), in chunks of papers in id order.
    """
    CREATE FUNCTION search_rebuild(chunk integer DEFAULT 5000) RETURNS bigint
    LANGUAGE plpgsql AS $$
    DECLARE
      batch text[];
    BEGIN
      PERFORM 1 FROM search_stats WHERE id = 1 FOR UPDATE;
      DELETE FROM search_vectors;
      DELETE FROM search_docs;
      DELETE FROM search_champions;
      DELETE FROM search_terms;
      UPDATE search_stats SET docs = 0, title_len = 0, text_len = 0, author_len = 0;
      FOR batch IN
        SELECT array_agg(id ORDER BY id)
          FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / chunk AS part
                  FROM papers) p
         GROUP BY part ORDER BY part
      LOOP
        PERFORM search_index(batch);
      END LOOP;
      UPDATE search_version SET v = v + 1 WHERE slot = pg_backend_pid() % 64;
      RETURN (SELECT docs FROM search_stats WHERE id = 1);
    END $$
    """,
    "SELECT search_rebuild()",
]

DOWNGRADE = [
    "DROP TRIGGER IF EXISTS search_embeddings_deleted ON paper_embeddings",
    "DROP TRIGGER IF EXISTS search_embeddings_updated ON paper_embeddings",
    "DROP TRIGGER IF EXISTS search_embeddings_inserted ON paper_embeddings",
    "DROP TRIGGER IF EXISTS search_papers_deleted ON papers",
    "DROP TRIGGER IF EXISTS search_papers_updated ON papers",
    "DROP TRIGGER IF EXISTS search_papers_inserted ON papers",
    "DROP TABLE IF EXISTS search_flushes, search_queue",
    "DROP FUNCTION IF EXISTS search_rebuild(integer)",
    "DROP FUNCTION IF EXISTS search_flush()",
    "DROP FUNCTION IF EXISTS search_embeddings_written()",
    "DROP FUNCTION IF EXISTS search_papers_written()",
    "DROP FUNCTION IF EXISTS search_enqueue(text[], boolean)",
    "DROP FUNCTION IF EXISTS search_index_vectors(text[])",
    "DROP FUNCTION IF EXISTS search_index(text[])",
    "DROP FUNCTION IF EXISTS search_index_champions(integer)",
    "DROP FUNCTION IF EXISTS search_phrase_freq(tsvector, text[], boolean)",
    "DROP FUNCTION IF EXISTS search_bm25(float8, float8, float8, float8)",
    "DROP FUNCTION IF EXISTS search_fieldnorm(float8)",
    "DROP TABLE IF EXISTS search_vectors, search_docs, search_champions, search_terms,"
    " search_stats, search_version",
    "DROP FUNCTION IF EXISTS search_halfvec(bytea)",
    "DROP FUNCTION IF EXISTS search_has_code(json)",
    "DROP FUNCTION IF EXISTS search_categories(json)",
    "DROP FUNCTION IF EXISTS search_author_vector(json)",
    "DROP FUNCTION IF EXISTS search_text_vector(text, text)",
    "DROP FUNCTION IF EXISTS search_key(text)",
    "DROP FUNCTION IF EXISTS search_norm(text)",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS search_names",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS search_words",
    "DROP TEXT SEARCH DICTIONARY IF EXISTS search_stem",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in DOWNGRADE:
        op.execute(statement)
