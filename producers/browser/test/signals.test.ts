/** Dwell, long_view, return_to_results and skip: captured from navigation, not by hand. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client, type Options } from "../src/client";
import { FakePage } from "./fake";

const OPTIONS: Options = { endpoint: "https://events.example", longViewMs: 4000 };
const RESULTS = ["d0", "d1", "d2", "d3"];

function searchAndClick(page: FakePage, options: Options = OPTIONS, position = 2): Client {
  const client = new Client(options, page);
  client.searched({ query: "earbuds", results: RESULTS, totalHits: 40, queryId: "q1" });
  client.clicked({ featureId: RESULTS[position], position, queryId: "q1" });
  page.fire("w", "pagehide", true); // into the bfcache
  return client;
}

const types = (page: FakePage) => page.sent().map((e) => [e.feature_id, e.interaction_type]);

test("back from the bfcache quickly: return_to_results with the dwell", () => {
  const page = new FakePage();
  searchAndClick(page);
  page.clock += 1500;
  page.fire("w", "pageshow", true);
  page.fire("d", "visibilitychange"); // also fires on the way back: counted once
  page.fire("w", "pagehide", true);
  const back = page.beacons.at(-1)!.events;
  assert.deepEqual(back.length, 1);
  assert.deepEqual(back[0].interaction_type, ["return_to_results"]);
  assert.deepEqual(back[0].metadata, { duration_ms: 1500 });
  assert.equal(back[0].position, 2);
  assert.equal(back[0].query_id, "q1");
});

test("back after reading past longViewMs: long_view, not a return", () => {
  const page = new FakePage();
  searchAndClick(page);
  page.clock += 9000;
  page.fire("w", "pageshow", true);
  page.fire("w", "pagehide", true);
  const back = page.beacons.at(-1)!.events;
  assert.deepEqual(back.map((e) => e.interaction_type), [["long_view"]]);
  assert.deepEqual(back[0].metadata, { duration_ms: 9000 });
});

test("back by a history navigation that reloads the page (no bfcache)", async () => {
  const page = new FakePage();
  searchAndClick(page);
  const doc = page.navigate("https://shop.example/doc/d2");
  doc.clock += 1000;
  const results = doc.navigate(page.location);
  new Client(OPTIONS, results);
  await results.advance(1000);
  assert.deepEqual(types(results), [["d2", ["return_to_results"]]]);
  assert.deepEqual(results.sent()[0].metadata, { duration_ms: 1000 });
});

test("a same-site landing page sends long_view once read long enough, and the return adds nothing", async () => {
  const page = new FakePage();
  searchAndClick(page);
  const doc = page.navigate("https://shop.example/doc/d2");
  new Client(OPTIONS, doc);
  await doc.advance(3999);
  assert.equal(doc.posts.length, 0);
  await doc.advance(1001);
  assert.deepEqual(types(doc), [["d2", ["long_view"]]]);
  const results = doc.navigate(page.location);
  new Client(OPTIONS, results);
  await results.advance(5000);
  assert.equal(results.posts.length, 0);
});

test("skipAbove: the results above a click are skipped, once each, never the clicked ones", () => {
  const page = new FakePage();
  const client = searchAndClick(page, { ...OPTIONS, skipAbove: true }, 2);
  page.fire("w", "pageshow", true);
  client.clicked({ featureId: "d3", position: 3, queryId: "q1" });
  page.fire("w", "pagehide");
  const sent = page.beacons.flatMap((b) => b.events).filter((e) => e.feature_id !== undefined);
  assert.deepEqual(
    sent.map((e) => [e.feature_id, e.position, (e.interaction_type as string[])[0]]),
    [
      ["d2", 2, "click"],
      ["d0", 0, "skip"],
      ["d1", 1, "skip"],
      ["d2", 2, "return_to_results"],
      ["d3", 3, "click"],
    ],
  );
});

test("the tab becoming visible again after a click in a new tab is a return", () => {
  const page = new FakePage();
  const client = new Client(OPTIONS, page);
  client.clicked({ featureId: "d1", position: 1, queryId: "q1" });
  page.isHidden = true;
  page.fire("d", "visibilitychange");
  page.clock += 2000;
  page.isHidden = false;
  page.fire("d", "visibilitychange");
  page.fire("w", "pagehide");
  const last = page.beacons.at(-1)!.events[0];
  assert.deepEqual(last.interaction_type, ["return_to_results"]);
  assert.deepEqual(last.metadata, { duration_ms: 2000 });
});
