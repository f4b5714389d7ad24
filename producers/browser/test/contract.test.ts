/** Validation against the rules generated from schemas/jsonschema, and collapsed views. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Client, type Options } from "../src/client";
import { interaction, search } from "../src/generated/schema";
import { validate } from "../src/rules";
import { FakePage } from "./fake";

const OPTIONS: Options = { endpoint: "https://events.example" };
const schemaFile = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../schemas/jsonschema/${name}`, import.meta.url), "utf8"));

test("the generated rules carry the JSON Schema's bounds", () => {
  const schema = schemaFile("interaction_event.v1.schema.json");
  assert.equal(interaction.fields.position.max, schema.properties.position.anyOf[0].maximum);
  assert.equal(interaction.fields.feature_id.maxLength, schema.properties.feature_id.maxLength);
  assert.equal(interaction.fields.metadata.maxBytes, schema.properties.metadata["x-max-json-bytes"]);
  assert.equal(
    interaction.fields.interaction_type.items!.pattern,
    schema.properties.interaction_type.items.pattern,
  );
  assert.deepEqual(interaction.required, schema.required);
  const searchSchema = schemaFile("search_event.v1.schema.json");
  assert.equal(search.fields.results.maxItems, searchSchema.properties.results.maxItems);
});

test("invalid events are refused in the page with the field and the rule", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ feature_id: "d", interaction_type: ["click"], position: -1 }, "position: must be >= 0, got -1"],
    [{ feature_id: "d", interaction_type: ["click"], position: 10_000 }, "position: must be <= 9999"],
    [{ feature_id: "d", interaction_type: ["click"], position: 1.5 }, "position: must be an integer"],
    [{ feature_id: "", interaction_type: ["click"] }, "feature_id: must have at least 1"],
    [{ feature_id: "x".repeat(257), interaction_type: ["click"] }, "feature_id: must have at most 256"],
    [{ feature_id: "a\nb", interaction_type: ["click"] }, "feature_id: must match"],
    [{ feature_id: "d", interaction_type: ["Not A Type"] }, "interaction_type[0]: must match"],
    [{ feature_id: "d", interaction_type: [] }, "interaction_type: must have at least 1 items"],
    [{ feature_id: "d", interaction_type: Array(17).fill("click") }, "interaction_type: must have at most 16 items"],
    [{ interaction_type: ["click"] }, "feature_id: is required"],
    [{ feature_id: "d", interaction_type: ["click"], postion: 1 }, "postion: is not a known field"],
    [{ feature_id: "d", interaction_type: ["click"], metadata: { duration_ms: -5 } }, "metadata.duration_ms: must be >= 0"],
    [{ feature_id: "d", interaction_type: ["click"], metadata: { duration_ms: 86_400_001 } }, "metadata.duration_ms: must be <= 86400000"],
    [{ feature_id: "d", interaction_type: ["click"], metadata: { query: "q".repeat(1025) } }, "metadata.query: must have at most 1024"],
    [{ feature_id: "d", interaction_type: ["click"], metadata: { blob: "b".repeat(8200) } }, "metadata: must be at most 8192 bytes"],
    [{ feature_id: "d", interaction_type: ["click"], event_id: "not-a-uuid" }, "event_id: must be a UUID"],
  ]; // prettier-ignore
  for (const [event, expected] of cases) {
    const errors = validate(interaction, event);
    assert.ok(errors.some((e) => e.startsWith(expected)), `${expected} not in ${errors}`);
  }
  const ok = { feature_id: "日本語 id", interaction_type: ["click", "share"], position: 9999 };
  assert.deepEqual(validate(interaction, { ...ok, metadata: { duration_ms: 4500.5 } }), []);
  assert.deepEqual(validate(interaction, { feature_id: "\u{1f431}".repeat(256), interaction_type: ["x"] }), []);
});

test("the client refuses invalid events (onInvalid) and queues nothing for them", async () => {
  const page = new FakePage();
  const refused: string[][] = [];
  const client = new Client({ ...OPTIONS, onInvalid: (errors) => refused.push(errors) }, page);
  assert.equal(client.clicked({ featureId: "d", position: -1 }), undefined);
  assert.equal(client.track("Share!", { featureId: "d" }), undefined);
  assert.equal(client.searched({ query: "q", results: ["a", "b"], totalHits: 1 }), undefined);
  assert.deepEqual(refused.map((r) => r[0].split(":")[0]), ["position", "interaction_type[0]", "total_hits"]);
  await page.advance(5000);
  assert.equal(page.posts.length, 0);
});

test("the same view sent by several widgets, or again after a reload, is sent once", async () => {
  const page = new FakePage();
  const view = { query: "earbuds", results: ["a", "b"], totalHits: 2 };
  const client = new Client(OPTIONS, page);
  const first = client.searched(view);
  assert.equal(client.searched({ ...view }), first, "the second widget gets the same query_id");
  const reloaded = page.navigate(page.location);
  assert.equal(new Client(OPTIONS, reloaded).searched(view), first);
  assert.notEqual(client.searched({ ...view, results: ["b", "a"] }), first, "another list");
  page.clock += 1_800_001;
  assert.notEqual(client.searched(view), first, "a new view half an hour later");
  await page.advance(2000);
  assert.equal(page.sent().length, 3);
});

test("a double-fired click handler sends one click; a later click is its own", async () => {
  const page = new FakePage();
  const client = new Client(OPTIONS, page);
  const target = { featureId: "a", position: 0, queryId: "q" };
  assert.ok(client.clicked(target));
  assert.equal(client.clicked(target), undefined);
  page.clock += 1500;
  assert.ok(client.clicked(target));
  await page.advance(1000);
  assert.equal(page.sent().length, 2);
});

test("an exploration record from the boost route travels in metadata.exploration", async () => {
  const page = new FakePage();
  const refused: string[][] = [];
  const client = new Client({ ...OPTIONS, onInvalid: (errors) => refused.push(errors) }, page);
  const exploration = { epsilon: 0.05, depth: 10, swap: 3 };
  const shown = ["d0", "d1", "d2", "d4", "d3", "d5"];
  const queryId = client.searched({
    query: "earbuds", results: shown, totalHits: 40, queryId: "q_7f3a", exploration, metadata: { page: 1 },
  }); // prettier-ignore
  assert.equal(queryId, "q_7f3a");
  const bad: [Record<string, unknown>, string][] = [
    [{ epsilon: 1.5, depth: 10, swap: null }, "metadata.exploration.epsilon: must be between 0 and 1, got 1.5"],
    [{ epsilon: 0.1, depth: 1, swap: null }, "metadata.exploration.depth: must be an integer between 2 and 1000"],
    [{ epsilon: 0.1, depth: 5, swap: 4 }, "metadata.exploration.swap: must be null or an integer from 0 to depth - 2 (3), got 4"],
    [{ epsilon: 0.1, depth: 5, swap: null, seed: 1 }, "metadata.exploration.seed: is not a known field"],
  ]; // prettier-ignore
  for (const [record, expected] of bad) {
    const sent = client.searched({ query: "q", results: shown, exploration: record as never });
    assert.equal(sent, undefined);
    assert.ok(refused.at(-1)?.some((e) => e.startsWith(expected)), `${expected} not in ${refused.at(-1)}`);
  }
  await page.advance(2000);
  const events = page.sent();
  assert.equal(events.length, 1);
  assert.deepEqual(events[0].metadata, { page: 1, exploration });
  assert.deepEqual(events[0].results, shown);
});
