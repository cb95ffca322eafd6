// Checks ephemail's response shapes against graphql-js, the reference implementation of the
// GraphQL specification: for each query, the response ephemail gave is replayed through
// graphql-js `execute` over the same schema, with resolvers that throw exactly where
// ephemail's errors say a field failed and otherwise return ephemail's own values. The `data`
// graphql-js then builds (nulls placed and propagated as the specification says) and its
// error paths must be what ephemail answered.
//
// usage: node spec-shapes.mjs SCHEMA_FILE GRAPHQL_URL API_KEY < queries.json
import { readFileSync } from "node:fs";
import {
  buildSchema,
  execute,
  parse,
  getNullableType,
  isEnumType,
  isLeafType,
  isListType,
} from "graphql";

const [schemaFile, url, apiKey] = process.argv.slice(2);
const schema = buildSchema(readFileSync(schemaFile, "utf8"));
const queries = JSON.parse(readFileSync(0, "utf8"));

const pathOf = (path) => {
  const keys = [];
  for (let p = path; p; p = p.prev) keys.unshift(p.key);
  return keys;
};
// Key order aside: JSON objects are unordered to the clients this protects.
const canonical = (value) =>
  Array.isArray(value)
    ? value.map(canonical)
    : value && typeof value === "object"
      ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]))
      : value;
const same = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

let failures = 0;
for (const query of queries) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ query }),
  }).then((r) => r.json());
  const errorPaths = (response.errors ?? []).map((e) => e.path).filter(Boolean);
  const failedAt = (keys) => errorPaths.some((p) => same(p, keys));
  const failsBelow = (keys) =>
    errorPaths.filter((p) => p.length > keys.length && same(p.slice(0, keys.length), keys));
  const lookup = (keys) => keys.reduce((v, k) => (v == null ? undefined : v[k]), response.data);
  // Values inside what ephemail nulled because something below failed: only their shape
  // matters, since graphql-js nulls them again (a list as long as the failures below need).
  const stand_in = (type, keys) => {
    const inner = getNullableType(type);
    if (isListType(inner)) {
      const below = failsBelow(keys).map((p) => Number(p[keys.length]) + 1);
      return Array.from({ length: Math.max(0, ...below) }, () => stand_in(inner.ofType, keys));
    }
    if (isEnumType(inner)) return inner.getValues()[0].value;
    if (isLeafType(inner)) return ["Int", "Float"].includes(inner.name) ? 0 : inner.name === "Boolean" ? false : "x";
    return {};
  };
  const fieldResolver = (_source, _args, _context, info) => {
    const keys = pathOf(info.path);
    if (failedAt(keys)) throw new Error("failed in ephemail");
    const value = lookup(keys);
    if (value === undefined || (value === null && failsBelow(keys).length > 0)) {
      return stand_in(info.returnType, keys);
    }
    return value;
  };
  const reference = await execute({ schema, document: parse(query), fieldResolver });
  const referencePaths = (reference.errors ?? []).map((e) => e.path);
  const sorted = (paths) => paths.map((p) => JSON.stringify(p)).sort();
  const ok =
    same(reference.data ?? null, response.data ?? null) &&
    same(sorted(referencePaths), sorted(errorPaths));
  if (!ok) failures += 1;
  console.log(
    JSON.stringify({ query, ok, ephemail: response, reference: { data: reference.data, errorPaths: referencePaths } }),
  );
}
process.exit(failures === 0 ? 0 : 1);
