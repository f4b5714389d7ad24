/** Consent gating, first-party ids only, and user ids hashed like schemas/privacy.py. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client, type Options } from "../src/client";
import { hashUserId } from "../src/ids";
import { FakePage } from "./fake";

const OPTIONS: Options = { endpoint: "https://events.example", key: "k" };

// The vectors of tests/unit/schemas/test_schemas_misc.py (hash_user_id), RFC 4231 case 2 first.
const HMAC_VECTORS: [string, string, string][] = [
  ["what do ya want for nothing?", "Jefe",
   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"],
  ["u1", "k", "731757b19387f029ed2b9879ee82a5384d99f3d717476fd935e43d11f4a1f2e3"],
  ["alice@example.com", "secret",
   "a398d49ce1980b3642bc4dbd110121e3c953e1eadb497d50dea23e9611f83ee7"],
  ["user_123", "project-key",
   "d34d61945cb9ed3bd38eae4e6b14a012d78f76f19306276d3edc772bc59434c8"],
  ["Zo\u00eb \u{1f431}", "cl\u00e9",
   "ace4485d01ab80ecc55753c1d1d7848d19f6225e86c8290c88835729e13f9d25"],
]; // prettier-ignore

test("hashUserId gives the known HMAC-SHA256 answers of hash_user_id", async () => {
  const page = new FakePage();
  for (const [userId, key, expected] of HMAC_VECTORS) {
    assert.equal(await hashUserId(userId, key, page.crypto), expected);
  }
});

test("consent pending: nothing stored, nothing sent, events dropped", async () => {
  const page = new FakePage();
  const client = new Client({ ...OPTIONS, consent: "pending" }, page);
  assert.equal(client.searched({ query: "q", results: ["a"] }), undefined);
  assert.equal(client.clicked({ featureId: "a", position: 0 }), undefined);
  assert.equal(await client.identify("user_1"), false);
  page.fire("w", "pagehide");
  await page.advance(60_000);
  assert.deepEqual(page.ls.keys(), []);
  assert.deepEqual(page.ss.keys(), []);
  assert.equal(page.posts.length + page.beacons.length, 0);
  client.consent("granted");
  client.clicked({ featureId: "a", position: 0 });
  await page.advance(1000);
  assert.deepEqual(page.sent().map((e) => e.feature_id), ["a"]);
});

test("consent denied erases what the SDK stored and stops", async () => {
  const page = new FakePage();
  page.ls.setItem("site:own", "kept");
  page.isOnline = false;
  const client = new Client(OPTIONS, page);
  client.clicked({ featureId: "a", position: 0 });
  assert.ok(page.ls.keys().some((k) => k.startsWith("ip:")));
  client.consent("denied");
  assert.deepEqual(page.ls.keys(), ["site:own"]);
  assert.deepEqual(page.ss.keys(), []);
  page.isOnline = true;
  page.fire("w", "online");
  client.clicked({ featureId: "b", position: 0 });
  page.fire("w", "pagehide");
  await page.advance(60_000);
  assert.equal(page.posts.length + page.beacons.length, 0);
});

test("ids are first-party storage only: a random anonymous id, no device attributes", async () => {
  const page = new FakePage();
  const client = new Client(OPTIONS, page);
  client.clicked({ featureId: "a", position: 0 });
  await page.advance(1000);
  const [event] = page.sent();
  assert.deepEqual(Object.keys(event).sort(), [
    "anonymous_id", "event_id", "feature_id", "interaction_type", "position", "session_id",
    "timestamp",
  ]); // prettier-ignore
  assert.equal(event.anonymous_id, page.ls.getItem("ip:aid"));
  const again = page.navigate(page.location, true);
  new Client(OPTIONS, again).clicked({ featureId: "b", position: 0 });
  await again.advance(1000);
  assert.equal(again.sent()[0].anonymous_id, event.anonymous_id, "same browser, same id");
  assert.notEqual(again.sent()[0].session_id, event.session_id, "another tab, another session");
});

test("identify links the anonymous id once, then every event carries the hashed user id", async () => {
  const page = new FakePage();
  const client = new Client({ ...OPTIONS, hashKey: "project-key" }, page);
  const anonymous = page.ls.getItem("ip:aid");
  assert.equal(await client.identify("user_123"), true);
  const hashed = "d34d61945cb9ed3bd38eae4e6b14a012d78f76f19306276d3edc772bc59434c8";
  assert.equal(
    page.posts[0].url,
    `https://events.example/v1/retrievers/users/${hashed}/identify?api_key=k`,
  );
  assert.deepEqual(page.posts[0].events, [{ anonymous_id: anonymous }]);
  assert.equal(page.posts[0].json, 1);
  assert.equal(await client.identify("user_123"), true);
  assert.equal(page.posts.length, 1, "already linked: not posted again");
  client.clicked({ featureId: "a", position: 0 });
  await page.advance(1000);
  assert.equal(page.sent()[0].user_id, hashed);
  assert.equal(page.sent()[0].anonymous_id, anonymous);
  assert.ok(!JSON.stringify(page.ls.keys().map((k) => page.ls.getItem(k))).includes("user_123"));
  client.reset();
  assert.equal(page.ls.getItem("ip:uid"), null);
  assert.notEqual(page.ls.getItem("ip:aid"), anonymous);
});

test("a failed identify is retried by the next page", async () => {
  const page = new FakePage();
  page.replies.push("network-error");
  assert.equal(await new Client(OPTIONS, page).identify("u1"), false);
  const next = page.navigate(page.location);
  assert.equal(await new Client(OPTIONS, next).identify("u1"), true);
  assert.equal(next.posts.length, 1);
});
