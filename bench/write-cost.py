"""PostgreSQL's CPU per batch for the ingest writer's transaction and for its parts, each measured
on its own, against the spool of bench/ingest-ceiling. Run by bench/write-cost, which starts
ephemail on a fresh embedded cluster and gives its connection, tenant and catch-all domain.

Each shape is a transaction of one pipeline (BEGIN, its statements, COMMIT), prepared, with
binary parameters, as the writer sends it: rows go in as one array per column. The shapes run
in turn, once uncounted and then ROUNDS times, each for TXS transactions of N mails, and the
median of each is printed with its ratio to the spool's. The CPU counted is the connection's
backend's, which runs every statement and the commit: not the cluster's background processes,
which come when they will and would be charged to whichever shape runs then. "As built" is
insert_all's statement in the form a plain batch uses, read from
crates/ephemail-store/src/models/message_insert.rs so that it cannot drift, with what the
writer pipelines after it (the notification; keep_newest only for inboxes the batch may take
past the cap, which `trim-api` adds; newest_seqs only for inboxes with listeners, which
`listened-api` adds); the other shapes are that statement with every part, its parts each on
its own, and what-ifs: the parts as separate statements, thinner message rows, cheaper inserts
of new inboxes, the rows sent by binary COPY (outside the pipeline, which psycopg does not allow
a COPY in).
"""

import datetime as dt
import hashlib
import os
import random
import re
import statistics
import subprocess
import sys
import time
import uuid

import psycopg
from psycopg.types.json import Jsonb

DSN, TENANT, DOMAIN = sys.argv[1:4]
TENANT = uuid.UUID(TENANT)
N = int(os.environ.get("N", "4"))
TXS = int(os.environ.get("TXS", "400"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
# Only these shapes (and the spool), when given: SHAPES="built built-api".
ONLY = os.environ.get("SHAPES", "").split()
# A git revision whose statement to run too, as `before` and `before-api`: an A/B of a change
# to the statement in one run (the schema and the parameters are the checkout's).
BEFORE = os.environ.get("BEFORE")
# The benchmark mail of bench/peer-bench.sh compresses to 744 bytes with zstd -3; random bytes
# of that size stand in for it (neither is compressed again or moved to TOAST by PostgreSQL).
RAW_BYTES = 744
NOW = dt.datetime.now(dt.timezone.utc)
EXPIRES = NOW + dt.timedelta(hours=1)
BUCKET = (NOW + dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
# Expiry buckets with partitions, all but the batches' one empty: a store whose inboxes live longer
# than --purge-bucket (an hour) has one for each hour of their lives, and a statement on
# `messages` that is not pruned to one bucket before it runs sets up every partition.
BUCKETS = int(os.environ.get("BUCKETS", "1"))


def rust_strings(text, macros):
    """The SQL of a Rust string literal, or of `concat!` of literals and the macros given."""
    out = []
    for token in re.finditer(r'"((?:[^"\\]|\\.)*)"|(\w+)!\(([^()]*)\)', text):
        if token.group(1) is not None:
            out.append(token.group(1).replace('\\"', '"'))
        elif token.group(2) in macros:
            out.append(macros[token.group(2)](*re.findall(r'"([^"]*)"', token.group(3))))
    return "".join(out)


def read(path, revision):
    """A source file of the checkout, or of a git revision."""
    if revision is None:
        return open(path).read()
    return subprocess.run(["git", "show", f"{revision}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def macro(path, name, revision):
    """A `macro_rules!` whose body is one `concat!`, as a function of its literal arguments."""
    found = re.search(rf"macro_rules! {name} \{{\s*\((.*?)\) => \{{\s*concat!\((.*?)\)\s*\}};",
                      read(path, revision), re.S)
    if not found:
        sys.exit(f"write-cost: macro {name} not found in {path}")
    params = re.findall(r"\$(\w+):literal", found.group(1))
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"|\$(\w+)', found.group(2))
    return lambda *args: "".join(
        literal if not param else args[params.index(param)] for literal, param in parts)


def insert_all_forms(revision=None):
    """insert_all's statement in each of its forms, from the constants and the `format!` of
    crates/ephemail-store/src/models/message_insert.rs (of the checkout, or of `revision`), so
    that it cannot drift: a function of (new inboxes, attachments, webhooks, shared raw
    sources, inboxes that exist: by default when there are no new ones) to the SQL."""
    source = read("crates/ephemail-store/src/models/message_insert.rs", revision)
    models = "crates/ephemail-store/src/models"
    macros = {
        "webhook_sends": macro(f"{models}/webhook.rs", "webhook_sends", revision),
        "under_catch_all_cap": macro(f"{models}/inbox.rs", "under_catch_all_cap", revision),
    }
    consts = {name: rust_strings(body, macros) for name, body in re.findall(
        r"^const (\w+): &str =\s*(.*?);\n", source, re.S | re.M)}
    template = re.search(r'format!\(\s*"(.*?)"\s*\)', source, re.S)
    if not template or "HEAD" not in consts:
        sys.exit("write-cost: insert_all_sql's format! or constants not found")
    # A backslash at a line's end continues the literal without the line break and indent.
    template = re.sub(r"\\\s*\n\s*", "", template.group(1))

    def form(fresh, attached, hooked, shared=False, existing=None):
        existing = not fresh if existing is None else existing
        names = dict(consts)
        names.update(
            check="" if hooked else consts["NO_MESSAGE_WEBHOOKS"],
            hooked=consts["HOOKED"] if hooked else "",
            deliveries="(SELECT count(*) FROM hooked)" if hooked else "0::int8",
            attached=consts["ATTACHED"] if attached else "",
            shared=consts.get("SHARED_SOURCES", "") if shared else "",
            made=consts["MADE"] if fresh else "",
            made_counted=consts["MADE_COUNTED"] if fresh else "",
            made_checked=consts["MADE_CHECKED"] if fresh else "",
            tallied=consts.get("TALLIED", "") if existing else "",
            bounds_checked=consts.get("BOUNDS_CHECKED", "") if existing else "",
        )
        return re.sub(r"\{(\w+)\}", lambda m: names[m.group(1)], template)

    return form


def time_ordered_id():
    millis = int(time.time() * 1000)
    return uuid.UUID(int=(millis << 80) | (0x7 << 76) | (int.from_bytes(os.urandom(10)) >> 4))


# Inboxes that exist (made by SETUP), for the batches to them; the writer remembered them, so
# the statement checks each is still live in its bucket, as a batch from memory does. Each
# batch picks its inboxes at random among them, so with more of them each holds fewer messages.
EXISTING = [uuid.UUID(int=i + 1) for i in range(int(os.environ.get("EXISTING", "1000")))]


def parameters(fresh_inboxes, shared, trims):
    """insert_all's parameters for N new mails, each to its own inbox (new catch-all addresses
    made in the statement, or remembered inboxes that exist) and with its own raw source, in its
    message's row or (`shared`) in a row of raw_sources, as a mail to several inboxes of a bucket
    stores it, its inboxes trimmed to the cap if the batch `trims`: the message rows' by their
    columns' arrays in the statement, the rest in the order after them that insert_all binds
    them in (NUMBER)."""
    ids = [time_ordered_id() for _ in range(N)]
    inbox_ids = ([uuid.uuid4() for _ in range(N)] if fresh_inboxes
                 else random.sample(EXISTING, N))
    raws = [os.urandom(RAW_BYTES) for _ in range(N)]
    shas = [hashlib.sha256(raw).digest() for raw in raws]
    locals_ = ["box" + os.urandom(8).hex() for _ in range(N)]
    addresses = [f"{local}@{DOMAIN}" for local in locals_]
    each = lambda value: [value] * N  # noqa: E731
    made = fresh_inboxes  # whether the statement makes the inboxes
    row = {
        "id": ids, "inbox_id": inbox_ids, "tenant_id": each(TENANT), "received_at": each(NOW),
        "mail_from": each("sender@example.test"),
        "rcpt_to": [f"{{{address}}}" for address in addresses],
        "from_addr": each(Jsonb([{"name": "Sender", "address": "sender@example.test"}])),
        "from_text": each("Sender <sender@example.test>"), "to_text": addresses,
        "subject": each("Your verification code is 428913"), "size": each(5774),
        "raw_sha256": shas if shared else each(None), "raw": each(None) if shared else raws,
        "tags": each("{}"), "has_attachments": each(False),
        "purge_at": each(BUCKET),
    }
    rest = {
        **({"source_sha256": shas, "source_raw": raws, "source_bucket": each(BUCKET)} if shared
           else {"source_sha256": [], "source_raw": [], "source_bucket": []}),
        **{name: [] for name in ATTACHMENT_ARRAYS},
        "held_ids": [] if made else inbox_ids, "held_buckets": [] if made else each(BUCKET),
        "now": NOW, "held_tenants": [TENANT], "held_mails_per_day": [None],
        "held_stored_bytes": [None], "held_message_size": [None],
        "made_ids": inbox_ids if made else [], "made_tenants": each(TENANT) if made else [],
        "made_local_parts": locals_ if made else [], "made_domains": each(DOMAIN) if made else [],
        "made_expires": each(EXPIRES) if made else [], "made_buckets": each(BUCKET) if made else [],
        "cap": 2**31 - 1,
        # The cap on each inbox's messages, and the inboxes trimmed to it after the insert: none
        # unless the batch runs keep_newest (they hold a few messages each, unless EXISTING is
        # so small that they fill up).
        "keep": KEEP_CAP, "trimmed": inbox_ids if trims and not fresh_inboxes else [],
    }
    values = {
        1: NOW.date(), 2: [TENANT], 3: [N], 4: [5600 * N], 5: [2**31 - 1], 6: [2**63 - 1],
        7: 0x6570_6865_6D61_696C, 8: 1, 9: True,
        **{number(ARRAYS[column]): array for column, array in row.items()},
        **{NUMBER[name]: value for name, value in rest.items()},
    }
    values[BUCKET_PARAMETER] = BUCKET
    return {f"p{k}": v for k, v in values.items()}


# Marks a statement run with each mail's raw source shared (see parameters()).
SHARED = "shared"


def named(sql):
    """`sql` with psycopg's named placeholders, binary (`%b`) as diesel binds every parameter:
    with `%s` psycopg sends lists as text, and the server then parses each array in Bind (the
    raw sources as hex), which the writer never pays."""
    return re.sub(r"\$(\d+)", lambda m: f"%(p{m.group(1)})b", sql)


FORM = insert_all_forms()
# Every part, as the one statement of every batch was before the forms (and as a batch with
# attachments, webhooks, new inboxes and mails to several inboxes is still stored), run with
# every mail's raw source shared.
ALL_PARTS = FORM(True, True, True, True, True)
# What a batch of one plain mail to each of new catch-all addresses, or to inboxes that exist,
# of a tenant without webhooks is stored with.
BUILT, BUILT_API = FORM(True, False, False), FORM(False, False, False)
# The writer's session settings, read from plan_for_indexes in delivery/writer.rs.
WRITER_SETTINGS = re.search(r'fn plan_for_indexes.*?batch_execute\(\s*"(.*?)"',
                            read("crates/ephemail-store/src/delivery/writer.rs", None),
                            re.S).group(1)
NOTIFY = "SELECT pg_notify('ephemail_write_cost', 'origin s a,s b,s c,s d')"


def part(pattern, text=None):
    """What `pattern`'s group matches in `text` (by default the statement with every part); a
    clear stop if the statement changed so that it no longer does."""
    found = re.search(pattern, ALL_PARTS if text is None else text, re.S)
    if not found:
        sys.exit(f"write-cost: insert_all's statement no longer matches {pattern!r}")
    return found.group(1)


MADE = part(r"made AS \((.*?)RETURNING tenant_id\)")
STORED = part(r"stored AS \((.*?)RETURNING id, seq")
SOURCES = part(r"sources AS \((.*?)WHERE \(sha256, purge_at\) IN")
COUNTED = part(r"counted AS MATERIALIZED \((.*?RETURNING u.tenant_id)\)")
HELD = part(r"WITH held AS MATERIALIZED \((.*?) AS holds\)")
HOOKED = part(r"hooked AS \((.*?)RETURNING 1\)")
# What a batch of the spool stand-in (bench/ingest-ceiling.patch) inserts.
COUNTERS = ("WITH counted AS MATERIALIZED ("
            + re.sub(r"\+ \(SELECT count\(\*\) FROM made[^)]*\)", "", COUNTED)
            + ") SELECT pg_advisory_xact_lock($7) FROM counted")


def listed(pattern):
    return [item.strip() for item in part(pattern, STORED).split(",")]


def number(parameter):
    """The number of a parameter such as `$12::uuid[]`."""
    return int(re.match(r"\$(\d+)", parameter).group(1))


# Each column of the messages' insert with the array it is read from.
ARRAYS = dict(zip(listed(r"unnest\(.*?\)\s*AS t\((.*?)\)"), listed(r"unnest\((.*?)\)\s*AS t\(")))
# The parameters after the messages' arrays, in insert_all's order of binding them.
ATTACHMENT_ARRAYS = [f"attachment_{i}" for i in range(9)]
NUMBER = {name: max(map(number, ARRAYS.values())) + 1 + i for i, name in enumerate(
    ["source_sha256", "source_raw", "source_bucket", *ATTACHMENT_ARRAYS, "held_ids", "held_buckets", "now",
     "held_tenants", "held_mails_per_day", "held_stored_bytes", "held_message_size",
     "made_ids", "made_tenants", "made_local_parts", "made_domains", "made_expires",
     "made_buckets", "cap", "keep", "trimmed"])}
if max(map(int, re.findall(r"\$(\d+)", ALL_PARTS))) != NUMBER["trimmed"]:
    sys.exit("write-cost: insert_all's parameters changed; update NUMBER and parameters()")
# The batch's one bucket, for the statements after the insert that take it alone (per_bucket).
BUCKET_PARAMETER = NUMBER["trimmed"] + 1
SPOOL = f"INSERT INTO write_cost_spool (raw) SELECT unnest({ARRAYS['raw']})"
# What the writer pipelines after the insert for the inboxes a batch may take past the cap
# (`to_trim` in delivery/cap.rs; a batch from memory to inboxes with room trims none):
# `keep_newest`, with the messages' inboxes and buckets, and the default of
# --max-messages-per-inbox, read from the source as the rest is.
KEEP_DEFAULT = re.search(r"default_value_t = (\d+),[^\n]*\n[^\n]*\n\s*pub max_messages_per_inbox",
                         read("src/config/mod.rs", None))
if not KEEP_DEFAULT:
    sys.exit("write-cost: --max-messages-per-inbox's default not found")
KEEP_CAP = int(KEEP_DEFAULT.group(1))


def per_bucket(statement):
    """A statement of the writer's on the batch's inboxes (`$1`), given their buckets as an
    array (`$2::timestamptz[]`, up to 0e132c8) or as one bucket (`$2`: a statement per bucket;
    the batch's inboxes share one), with the parameters of the insert's."""
    inboxes, buckets = f"${number(ARRAYS['inbox_id'])}", f"${number(ARRAYS['purge_at'])}"
    statement = statement.replace("$2::timestamptz[]", f"{buckets}::timestamptz[]")
    return re.sub(r"\$([12])\b", lambda m: {
        "1": inboxes, "2": f"${BUCKET_PARAMETER}"}[m.group(1)], statement)


def writer_statement(function, revision=None):
    found = re.search(rf'fn {function}\b.*?Prepared::new\(\s*"(.*?)",\s*\)',
                      read("crates/ephemail-store/src/models/message_insert.rs", revision), re.S)
    if not found:
        sys.exit(f"write-cost: {function}'s statement not found")
    return found.group(1)


def keep_statement(revision=None):
    """keep_newest's statement (of the checkout, or of `revision`) on the batch's inboxes."""
    return per_bucket(writer_statement("keep_newest", revision).replace("$3", f"{KEEP_CAP}::int4"))


def newest_statement(revision=None):
    """newest_seqs's statement (of the checkout, or of `revision`): each inbox's two newest
    `seq`s, as for one copy in a listened inbox."""
    counts = f"array_fill(2, ARRAY[cardinality(${number(ARRAYS['inbox_id'])}::uuid[])])"
    return per_bucket(writer_statement("newest_seqs", revision).replace("$3::int4[]", counts))


KEEP = keep_statement()
# keep_newest's statements: the checkout's, and BEFORE's when given.
KEEPS = {KEEP}
NEWEST = newest_statement()
# What the insert selects for each column (a cast for the arrays given as text).
SELECTED = {expression.split("::")[0]: expression
            for expression in listed(r"SELECT (.*?)\s+FROM in_commit_order")}
MESSAGE_ROW = list(ARRAYS)
RAW_SOURCES = (SOURCES + "ON CONFLICT (sha256, purge_at) DO UPDATE SET sha256 = EXCLUDED.sha256"
               " WHERE false")
# What-ifs for the message row. `thin`: one row with what a list needs, the raw source inline.
THIN = ["id", "inbox_id", "tenant_id", "received_at", "size", "subject", "from_text", "raw",
        "purge_at"]


def row_insert(table, columns, guarded=True):
    """The insert of `columns` into `table`, from their arrays; `guarded`: after the
    commit-order lock and only for the tenants counted, as insert_all's is."""
    names = ", ".join(columns)
    selected = ", ".join(SELECTED[column] for column in columns)
    arrays = ", ".join(ARRAYS[column] for column in columns)
    if not guarded:
        return (f"INSERT INTO {table} ({names}) SELECT {selected}"
                f" FROM unnest({arrays}) AS t({names})")
    return (f"INSERT INTO {table} ({names}) SELECT {selected} FROM in_commit_order,"
            f" unnest({arrays}) AS t({names}) WHERE t.tenant_id = ANY(in_commit_order.tenants) ")


def with_row(statement, table, columns):
    """`statement` (without shared raw sources) storing `columns` into `table` instead of its
    message row."""
    statement = statement.replace(STORED, row_insert(table, columns))
    if "raw_sha256" in columns:
        return statement
    return statement.replace(
        "RETURNING id, seq, inbox_id, tenant_id, received_at, raw_sha256, purge_at",
        "RETURNING id, seq, inbox_id, tenant_id, received_at, purge_at")


# What-if: `all-parts` as separate statements in the same pipeline, where a check that fails
# raises as the CTEs do. The counters' update is given the inboxes to count.
SPLIT = [(sql, made, SHARED) for sql, made in [
    (f"SELECT CASE WHEN {HELD.strip()[len('SELECT '):]} THEN true"
     " ELSE raise_remembered_changed() END", True),
    (f"WITH made AS ({MADE}RETURNING tenant_id) SELECT CASE WHEN count(*)"
     f" = cardinality(${NUMBER['made_ids']})"
     " THEN true ELSE raise_remembered_changed() END FROM made", True),
    ("WITH counted AS MATERIALIZED ("
     + re.sub(r"\(SELECT count\(\*\) FROM made[^)]*\)",
              f"cardinality(${NUMBER['made_ids']}::uuid[])", COUNTED)
     + ") SELECT pg_advisory_xact_lock($7) FROM (SELECT count(*) AS n FROM counted) c"
     " WHERE CASE WHEN c.n = $8 OR NOT $9 THEN true ELSE raise_quota_exceeded() END", True),
    (row_insert("messages", MESSAGE_ROW, guarded=False) + " RETURNING id, seq", True),
    (RAW_SOURCES, True),
    (HOOKED.replace("FROM stored s", "FROM unnest($10::uuid[], $11::uuid[], $12::uuid[],"
                    " $13::timestamptz[]) AS s(id, inbox_id, tenant_id, received_at)"), True),
    (NOTIFY, True),
]]

# (name, what it is, [(statement, whether its inboxes are new catch-all addresses[, SHARED])])
SHAPES = [
    ("spool", "bench/ingest-ceiling's spool: one unindexed bytea row a mail", [(SPOOL, True)]),
    ("built", "as built, to new catch-all addresses, with the notification",
     [(BUILT, True), (NOTIFY, True)]),
    ("built-api", "as built, to inboxes that exist (INBOXES=api), none past the cap",
     [(BUILT_API, False), (NOTIFY, True)]),
    ("trim-api", "the same with keep_newest on every inbox, as a batch read or to full ones",
     [(BUILT_API, False), (KEEP, False), (NOTIFY, True)]),
    ("listened-api", "built-api with newest_seqs, as a batch to inboxes waited on or watched",
     [(BUILT_API, False), (NEWEST, False), (NOTIFY, True)]),
    ("all-parts", "the statement with every part, to new catch-all addresses",
     [(ALL_PARTS, True, SHARED), (NOTIFY, True)]),
    ("all-parts-api", "the same to inboxes that exist",
     [(ALL_PARTS, False, SHARED), (NOTIFY, True)]),
    ("counters", "part: the quota counters' update and the commit-order lock",
     [(COUNTERS, True)]),
    ("inboxes", "part: the new catch-all inboxes' insert", [(MADE, True)]),
    ("inboxes-nofk", "part: the same into a copy of inboxes without its foreign keys",
     [(MADE.replace("INSERT INTO inboxes ", "INSERT INTO write_cost_inboxes "), True)]),
    ("messages", "part: the messages' insert",
     [(row_insert("messages", MESSAGE_ROW, guarded=False), True)]),
    ("raw-sources", "part: the shared raw sources' insert", [(RAW_SOURCES, True, SHARED)]),
    ("split", "what-if: all-parts as separate statements in one pipeline", SPLIT),
    ("split-api", "what-if: the same to inboxes that exist",
     [(sql, False, SHARED) for sql, _, _ in SPLIT]),
    ("thin", "what-if: a thin message row with the raw source inline",
     [(row_insert("write_cost_thin", THIN, guarded=False), True)]),
    ("built-thin", "what-if: as built with that row for the message row",
     [(with_row(BUILT, "write_cost_thin", THIN), True), (NOTIFY, True)]),
    ("built-thin-api", "what-if: the same to inboxes that exist",
     [(with_row(BUILT_API, "write_cost_thin", THIN), False), (NOTIFY, True)]),
]
# What-ifs for the new inboxes: a plain insert, where a taken address would fail the batch (and
# the writer read it again) instead of being skipped; and also without the cap's per-row look-up,
# where the counters' update would check the batch's inboxes against the cap at once.
MADE_PLAIN = BUILT.replace("ON CONFLICT DO NOTHING\n     RETURNING tenant_id",
                           "RETURNING tenant_id")
MADE_BARE = re.sub(r"WHERE \(\(SELECT u\.mail_inboxes.*?< \$%d\)\s*ON CONFLICT DO NOTHING"
                   % NUMBER["cap"], "", BUILT, flags=re.S)
# What-if: the new inboxes without their foreign keys' check per row, their domains and tenants
# locked once a batch instead (as the checks lock them), into a copy of inboxes without them.
MADE_NOFK = BUILT.replace("INSERT INTO inboxes ", "INSERT INTO write_cost_inboxes ").replace(
    "ON CONFLICT DO NOTHING\n     RETURNING tenant_id",
    f"AND t.domain IN (SELECT name FROM domains WHERE name = ANY(${NUMBER['made_domains']})"
    " FOR KEY SHARE)\n"
    f"       AND t.tenant_id IN (SELECT id FROM tenants WHERE id = ANY(${NUMBER['made_tenants']})"
    " FOR KEY SHARE)\n     ON CONFLICT DO NOTHING\n     RETURNING tenant_id")
if BUILT in (MADE_PLAIN, MADE_BARE, MADE_NOFK):
    sys.exit("write-cost: the new inboxes' insert no longer has its ON CONFLICT or cap")
SHAPES += [
    ("made-plain", "what-if: built with the new inboxes' insert without ON CONFLICT",
     [(MADE_PLAIN, True), (NOTIFY, True)]),
    ("made-bare", "what-if: the same without the cap's look-up per inbox",
     [(MADE_BARE, True), (NOTIFY, True)]),
    ("made-nofk", "what-if: built with the inboxes' keys checked once a batch, not per row",
     [(MADE_NOFK, True), (NOTIFY, True)]),
]
# What-ifs for the rest of a batch to inboxes that exist: without the checks of what memory
# assumed (the inboxes' `FOR KEY SHARE` look-ups, the tenants' limits, no webhooks), without the
# notification, without the quota counters (the lock kept), and all that the design would have
# to give up at once for its floor: the thin row, no checks, no notification.
NO_HELD = BUILT_API.replace(part(r"WITH held AS MATERIALIZED \((.*?) AS holds\)", BUILT_API),
                            "SELECT true")
NO_COUNTERS = BUILT_API.replace(part(r"counted AS MATERIALIZED \((.*?RETURNING u.tenant_id)\)",
                                     BUILT_API), "SELECT unnest($2::uuid[]) AS tenant_id")
SHAPES += [
    ("noheld-api", "what-if: built-api without the checks of what memory assumed",
     [(NO_HELD, False), (NOTIFY, True)]),
    ("nonotify-api", "what-if: built-api without the notification", [(BUILT_API, False)]),
    ("nocount-api", "what-if: built-api without the quota counters' update",
     [(NO_COUNTERS, False), (NOTIFY, True)]),
    ("floor-api", "what-if: the thin row, no checks, no notification",
     [(with_row(NO_HELD, "write_cost_thin", THIN), False)]),
]
# What-ifs with binary COPY (issue 28: "binary `COPY` for the batch's rows"): the message rows
# copied in, as tokio-postgres's `copy_in` would send them, instead of inserted from one array a
# column. `copy-messages` and `copy-spool` are the `messages` part and the spool so; COPY cannot
# return the `seq`s the writer's events need, so `copy-api` draws them in built-api's statement
# (after the commit-order lock, as the insert does) and copies them in with the rows: COPY writes
# an identity column's given values, as INSERT ... OVERRIDING SYSTEM VALUE does.
COPY = "copy"
# Marks a statement sent on its own between two pipelines, as a COPY is: `messages-alone` is the
# `messages` part so, the copies' like for like.
ALONE = "alone"
# The identity sequence of `messages.seq`, as a literal that main() puts in its place (its name
# depends on the migrations' renames).
SEQUENCE = "'write_cost_seq_sequence'"
STORED_ALL = part(r"(stored AS \(.*?RETURNING id, seq, inbox_id, tenant_id, received_at,"
                  r" raw_sha256, purge_at\))", BUILT_API)
DRAWN_COLUMNS = ["id", "inbox_id", "tenant_id", "received_at", "raw_sha256", "purge_at"]
SEQ_DRAWN = BUILT_API.replace(STORED_ALL, (
    "stored AS MATERIALIZED (SELECT t.id, nextval(" + SEQUENCE + ") AS seq, t.inbox_id,"
    " t.tenant_id, t.received_at, t.raw_sha256, t.purge_at FROM in_commit_order, unnest("
    + ", ".join(ARRAYS[column] for column in DRAWN_COLUMNS) + ") AS t("
    + ", ".join(DRAWN_COLUMNS) + ") WHERE t.tenant_id = ANY(in_commit_order.tenants))"))
if SEQ_DRAWN == BUILT_API:
    sys.exit("write-cost: built-api's messages' insert not found")
SHAPES += [
    ("messages-alone", "the messages part sent outside the pipeline, as the COPY is",
     [(row_insert("messages", MESSAGE_ROW, guarded=False), True, ALONE)]),
    ("copy-messages", "what-if: the messages part by binary COPY",
     [(("messages", MESSAGE_ROW), True, COPY)]),
    ("copy-spool", "what-if: the spool by binary COPY",
     [(("write_cost_spool", ["raw"]), True, COPY)]),
    ("copy-api", "what-if: built-api with its seqs drawn and the message rows by binary COPY",
     [(SEQ_DRAWN, False), (("messages", ["seq", *MESSAGE_ROW]), False, COPY),
      (NOTIFY, False)]),
]
if BEFORE:
    FORM_BEFORE = insert_all_forms(BEFORE)
    KEEPS.add(keep_statement(BEFORE))
    SHAPES[1:1] = [
        ("before", f"as built at {BEFORE}, to new catch-all addresses",
         [(FORM_BEFORE(True, False, False), True), (NOTIFY, True)]),
        ("before-api", f"as built at {BEFORE}, to inboxes that exist, with its keep_newest",
         [(FORM_BEFORE(False, False, False), False), (keep_statement(BEFORE), False),
          (NOTIFY, True)]),
        ("before-listened-api", f"built-api with {BEFORE}'s newest_seqs",
         [(BUILT_API, False), (newest_statement(BEFORE), False), (NOTIFY, True)]),
    ]
SHAPES = [shape for shape in SHAPES if not ONLY or shape[0] in ONLY or shape[0] == "spool"]

SETUP = f"""
SELECT create_purge_partitions('{BUCKET.isoformat()}');
SELECT create_purge_partitions('{BUCKET.isoformat()}'::timestamptz + i * interval '1 hour')
FROM generate_series(1, {BUCKETS - 1}) AS i;
CREATE TABLE write_cost_spool (raw bytea NOT NULL);
CREATE TABLE write_cost_inboxes (LIKE inboxes INCLUDING ALL);
CREATE TABLE write_cost_thin (
    id uuid NOT NULL, seq bigint GENERATED ALWAYS AS IDENTITY, inbox_id uuid NOT NULL,
    tenant_id uuid NOT NULL, received_at timestamptz NOT NULL, size int NOT NULL, subject text,
    from_text text NOT NULL, seen boolean NOT NULL DEFAULT false, raw bytea NOT NULL,
    purge_at timestamptz NOT NULL, PRIMARY KEY (id, purge_at)) PARTITION BY LIST (purge_at);
ALTER TABLE write_cost_thin ALTER COLUMN raw SET STORAGE EXTERNAL;
CREATE INDEX ON write_cost_thin (inbox_id, seq DESC);
INSERT INTO inboxes (id, tenant_id, local_part, domain, created_at, expires_at, purge_at)
SELECT ('00000000-0000-0000-0000-' || lpad(to_hex(i), 12, '0'))::uuid, '{TENANT}',
    'existing' || i, '{DOMAIN}', now(), '{EXPIRES.isoformat()}', '{BUCKET.isoformat()}'
FROM generate_series(1, {len(EXISTING)}) AS i;
CREATE TABLE write_cost_thin_bucket PARTITION OF write_cost_thin
    FOR VALUES IN ('{BUCKET.isoformat()}');
-- The tables grow by thousands of rows a run from nearly empty, so autoanalyze would come every
-- few hundred rows and make every prepared statement on them plan again, charged to whichever
-- shape runs then; at a real store's size it is rare. Analyzed once, then left alone.
ANALYZE;
DO $$
DECLARE written regclass;
BEGIN
    FOR written IN
        SELECT relid FROM pg_partition_tree('messages') UNION ALL
        SELECT relid FROM pg_partition_tree('raw_sources') UNION ALL
        SELECT relid FROM pg_partition_tree('attachments') UNION ALL
        SELECT relid FROM pg_partition_tree('write_cost_thin') UNION ALL
        SELECT unnest(ARRAY['inboxes', 'write_cost_inboxes', 'write_cost_spool',
                            'tenant_usage']::regclass[])
    LOOP
        IF (SELECT relkind FROM pg_class WHERE oid = written) = 'r' THEN
            EXECUTE format('ALTER TABLE %s SET (autovacuum_enabled = off)', written);
        END IF;
    END LOOP;
END $$;
"""



def cpu_seconds(backend):
    """The backend's time on a CPU so far (user and system, in nanoseconds in schedstat)."""
    with open(f"/proc/{backend}/schedstat") as schedstat:
        return int(schedstat.read().split()[0]) / 1e9


# Each copied table's column types, read from the database by main().
COPY_TYPES = {}


def copied_rows(params, columns, seqs):
    """The rows of `columns` in `params`' arrays, as COPY takes them: array literals as lists,
    each row's `seq` from `seqs` by its id."""
    def value(column, array, row):
        if column == "seq":
            return seqs[params[f"p{number(ARRAYS['id'])}"][row]]
        item = array[row]
        if column in ("rcpt_to", "tags"):
            return [part for part in item.strip("{}").split(",") if part]
        return item
    arrays = {column: params.get(f"p{number(ARRAYS[column])}") if column != "seq" else None
              for column in columns}
    return [[value(column, arrays[column], row) for column in columns] for row in range(N)]


def measure(conn, statements, transactions):
    prepared = [(named(sql) if isinstance(sql, str) else sql, made, SHARED in kind,
                 COPY in kind or ALONE in kind)
                for sql, made, *kind in statements]
    trims = any(isinstance(sql, str) and sql in KEEPS for sql, *_ in statements)
    # What is sent between two pipelines (a shape has them together): COPYs, and statements
    # sent as a COPY is.
    apart = [entry for entry in prepared if entry[3]]
    before = prepared[:prepared.index(apart[0])] if apart else prepared
    after = prepared[len(before) + len(apart):]

    def run(sql, params):
        used = {k: v for k, v in params.items() if f"%({k})b" in sql}
        return conn.execute(sql, used, prepare=True, binary=True)

    def pipeline(entries, each, first=(), last=()):
        last_cursor = None
        with conn.pipeline():
            for sql in first:
                conn.execute(sql, prepare=True)
            for sql, made, shared, _ in entries:
                last_cursor = run(sql, each[(made, shared)])
            for sql in last:
                conn.execute(sql, prepare=True)
        return last_cursor

    def transaction():
        each = {(made, shared): parameters(made, shared, trims)
                for _, made, shared, _ in prepared}
        if not apart:
            pipeline(prepared, each, ["BEGIN"], ["COMMIT"])
            return
        drew = pipeline(before, each, ["BEGIN"])
        seqs = {row[0]: row[1] for row in drew.fetchall()} if before else {}
        for statement, made, shared, _ in apart:
            if isinstance(statement, str):
                # Alone, between the pipelines, as a COPY is sent.
                run(statement, each[(made, shared)])
                continue
            table, columns = statement
            rows = copied_rows(each[(made, shared)], columns, seqs)
            with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                                    " (FORMAT BINARY)") as copy:
                copy.set_types([COPY_TYPES[table][column] for column in columns])
                for row in rows:
                    copy.write_row(row)
        pipeline(after, each, last=["COMMIT"])

    backend = conn.info.backend_pid
    started = cpu_seconds(backend)
    for _ in range(transactions):
        transaction()
    return (cpu_seconds(backend) - started) * 1e6 / transactions


def column_types(conn, table):
    """Each column of `table` with its type, as COPY's binary format needs them named."""
    return dict(conn.execute(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", [table]).fetchall())


def main():
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(SETUP)
        conn.execute(WRITER_SETTINGS)
        sequence = conn.execute("SELECT pg_get_serial_sequence('messages', 'seq')").fetchone()[0]
        for shape in SHAPES:
            shape[2][:] = [(sql.replace(SEQUENCE, f"'{sequence}'") if isinstance(sql, str) else sql,
                            *rest) for sql, *rest in shape[2]]
        COPY_TYPES.update({table: column_types(conn, table)
                           for table in ("messages", "write_cost_spool")})
        # A round not counted: each statement prepared and planned, and the cluster past what
        # it does just after start (the first counted round ran up to half again slower without it).
        for _, _, statements in SHAPES:
            measure(conn, statements, 50)
        results = {name: [] for name, _, _ in SHAPES}
        for _ in range(ROUNDS):
            for name, _, statements in SHAPES:
                results[name].append(measure(conn, statements, TXS))
            # As autovacuum does for a store's inserted rows (it is off here, see SETUP): the
            # pages written become all-visible, so keep_newest reads an inbox's index alone, and
            # the inboxes' rows, which every batch updates, are cleaned up.
            conn.execute("VACUUM messages, write_cost_thin, inboxes")
    spool = statistics.median(results["spool"])
    print(f"N={N} mails a batch, {TXS} batches a run, median of {ROUNDS} alternated runs")
    print(f"{'shape':16s} {'us/batch':>9s} {'us/mail':>8s} {'x spool':>8s}  runs (us/batch)  what")
    for name, what, _ in SHAPES:
        median = statistics.median(results[name])
        runs = ", ".join(f"{v:.0f}" for v in results[name])
        print(f"{name:16s} {median:9.0f} {median / N:8.0f} {median / spool:8.2f}"
              f"  {runs:15s}  {what}")


main()
