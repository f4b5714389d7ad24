/** Batching, the persisted queue, backoff and the page-exit beacon. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client, type Options } from "../src/client";
import { FakePage } from "./fake";

const OPTIONS: Options = { endpoint: "https://events.example/", key: "k-browser", flushMs: 1000 };
const click = (i: number) => ({ featureId: `doc_${i}`, position: i, queryId: "q1" });

test("batches by size at once and by time after flushMs, one request per batch", async () => {
  const page = new FakePage();
  const client = new Client({ ...OPTIONS, batchSize: 3 }, page);
  for (let i = 0; i < 4; i++) client.clicked(click(i));
  await page.advance(0);
  assert.equal(page.posts.length, 1);
  assert.deepEqual(page.posts[0].events.map((e) => e.feature_id), ["doc_0", "doc_1", "doc_2"]);
  assert.equal(
    page.posts[0].url,
    "https://events.example/v1/retrievers/interactions?api_key=k-browser",
  );
  await page.advance(999);
  assert.equal(page.posts.length, 1);
  await page.advance(1);
  assert.equal(page.posts.length, 2);
  assert.deepEqual(page.posts[1].events.map((e) => e.feature_id), ["doc_3"]);
});

test("every event carries a UUID event_id, an RFC 3339 timestamp and the tab's session", async () => {
  const page = new FakePage();
  const client = new Client(OPTIONS, page);
  client.clicked(click(0));
  client.clicked(click(1));
  await page.advance(1000);
  const [a, b] = page.sent();
  assert.match(String(a.event_id), /^[0-9a-f-]{36}$/);
  assert.notEqual(a.event_id, b.event_id);
  assert.equal(a.timestamp, new Date(page.clock - 1000).toISOString());
  assert.equal(a.session_id, b.session_id);
  assert.equal(a.anonymous_id, page.ls.getItem("ip:aid"));
});

test("searches and interactions go to their own routes", async () => {
  const page = new FakePage();
  const client = new Client(OPTIONS, page);
  const queryId = client.searched({ query: "earbuds", results: ["d1", "d2"], totalHits: 9 });
  client.clicked({ featureId: "d2", position: 1, queryId });
  await page.advance(2000);
  assert.deepEqual(
    page.posts.map((p) => new URL(p.url).pathname),
    ["/v1/retrievers/searches", "/v1/retrievers/interactions"],
  );
  assert.equal(page.posts[0].events[0].query_id, queryId);
  assert.equal(page.posts[1].events[0].query_id, queryId);
});

test("the queue survives a reload: saved before sending, resent with the same event_id", async () => {
  const page = new FakePage();
  const first = new Client(OPTIONS, page);
  const id = first.track("share", { featureId: "doc_0" });
  const reloaded = page.navigate(page.location);
  new Client(OPTIONS, reloaded);
  await reloaded.advance(0);
  assert.deepEqual(reloaded.sent().map((e) => e.event_id), [id]);
});

test("the queue is bounded: the oldest events are dropped past maxQueue", async () => {
  const page = new FakePage();
  page.isOnline = false;
  const client = new Client({ ...OPTIONS, maxQueue: 5 }, page);
  const ids = Array.from({ length: 8 }, (_, i) => client.track("share", { featureId: `d${i}` }));
  const saved = JSON.parse(page.ls.getItem(page.ls.keys().find((k) => k.startsWith("ip:q:"))!)!);
  assert.deepEqual(saved.q.map((x: { e: { event_id: string } }) => x.e.event_id), ids.slice(3));
  assert.ok(page.warnings.some((w) => w.includes("dropped the 1 oldest")));
});

test("a network error keeps the batch and backs off, doubling up to 60 s", async () => {
  const page = new FakePage();
  const client = new Client(OPTIONS, page);
  const id = client.clicked(click(0));
  page.replies.push(...Array(9).fill("network-error"));
  await page.advance(1000);
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    delays.push(page.nextTimer());
    await page.advance(page.nextTimer());
  }
  delays.forEach((d, i) => {
    const full = Math.min(60_000, 1000 * 2 ** i);
    assert.ok(d >= full / 2 && d <= full, `retry ${i}: ${d} ms not in [${full / 2}, ${full}]`);
  });
  await page.advance(page.nextTimer());
  assert.equal(page.posts.length, 10);
  assert.ok(page.posts.every((p) => p.events[0].event_id === id), "same event every time");
  assert.equal(page.nextTimer(), Infinity, "delivered: nothing left to retry");
});

test("429 and 503 honour Retry-After; 4xx refusals are dropped, not retried", async () => {
  const page = new FakePage();
  const client = new Client(OPTIONS, page);
  client.clicked(click(0));
  page.replies.push({ status: 429, retryAfter: 7, body: null });
  page.replies.push({ status: 503, retryAfter: 5, body: null });
  await page.advance(1000);
  assert.equal(page.nextTimer(), 7000);
  await page.advance(7000);
  assert.equal(page.nextTimer(), 5000);
  await page.advance(5000);
  assert.equal(page.posts.length, 3);
  client.clicked(click(1));
  page.replies.push({ status: 422, retryAfter: 0, body: { detail: "position: bad" } });
  await page.advance(1000);
  assert.equal(page.nextTimer(), Infinity);
  assert.ok(page.warnings.some((w) => w.includes("422")));
});

test("a 207 keeps only the events the collector marks retryable", async () => {
  const page = new FakePage();
  const client = new Client({ ...OPTIONS, batchSize: 3 }, page);
  const failures = [
    { index: 0, retryable: false },
    { index: 2, retryable: true },
  ];
  page.replies.push({ status: 207, retryAfter: 0, body: { failures } });
  const ids = [0, 1, 2].map((i) => client.clicked(click(i)));
  await page.advance(0);
  await page.advance(page.nextTimer());
  assert.deepEqual(page.posts[1].events.map((e) => e.event_id), [ids[2]]);
});

test("offline: nothing is attempted until the browser is back online", async () => {
  const page = new FakePage();
  page.isOnline = false;
  const client = new Client(OPTIONS, page);
  client.clicked(click(0));
  await page.advance(120_000);
  assert.equal(page.posts.length, 0);
  page.isOnline = true;
  page.fire("w", "online");
  await page.advance(0);
  assert.equal(page.posts.length, 1);
});

test("pagehide beacons the queue as text and empties it", async () => {
  const page = new FakePage();
  const client = new Client(OPTIONS, page);
  client.searched({ query: "q", results: ["a"], queryId: "q1" });
  client.clicked({ featureId: "a", position: 0, queryId: "q1" });
  page.fire("w", "pagehide");
  assert.deepEqual(page.beacons.map((b) => new URL(b.url).pathname), [
    "/v1/retrievers/searches",
    "/v1/retrievers/interactions",
  ]);
  assert.equal(new URL(page.beacons[0].url).searchParams.get("api_key"), "k-browser");
  await page.advance(5000);
  assert.equal(page.posts.length, 0, "nothing left to send after the beacon");
});

test("beacons are chunked; a refused beacon leaves the rest queued", async () => {
  const page = new FakePage();
  const client = new Client({ ...OPTIONS, batchSize: 1000 }, page);
  for (let i = 0; i < 120; i++) client.track("share", { featureId: `d${i}` });
  page.isHidden = true;
  page.fire("d", "visibilitychange");
  assert.deepEqual(page.beacons.map((b) => b.events.length), [50, 50, 20]);
  for (let i = 0; i < 3; i++) client.track("share", { featureId: `e${i}` });
  page.beaconAccepts = false;
  page.fire("w", "pagehide");
  const next = page.navigate(page.location);
  new Client(OPTIONS, next);
  await next.advance(0);
  assert.deepEqual(next.posts[0].events.map((e) => e.feature_id), ["e0", "e1", "e2"]);
});

test("while backing off the page exit keeps the queue for the next page, marked adoptable", async () => {
  const page = new FakePage();
  const client = new Client(OPTIONS, page);
  const id = client.clicked(click(0));
  page.replies.push("network-error");
  await page.advance(1000);
  page.fire("w", "pagehide");
  assert.equal(page.beacons.length, 0);
  const otherTab = page.navigate("https://shop.example/", true);
  new Client(OPTIONS, otherTab);
  await otherTab.advance(0);
  assert.deepEqual(otherTab.sent().map((e) => e.event_id), [id]);
});

test("another live tab's queue is left alone; a silent one is adopted", async () => {
  const page = new FakePage();
  page.isOnline = false;
  const client = new Client(OPTIONS, page);
  const id = client.clicked(click(0));
  const otherTab = page.navigate("https://shop.example/", true);
  new Client(OPTIONS, otherTab);
  await otherTab.advance(1000);
  assert.equal(otherTab.posts.length, 0);
  const later = otherTab.navigate("https://shop.example/", true);
  later.clock += 300_001;
  new Client(OPTIONS, later);
  await later.advance(0);
  assert.deepEqual(later.sent().map((e) => e.event_id), [id]);
});

test("a batch in flight when the page goes away is not sent again by the next page", async () => {
  const page = new FakePage();
  const client = new Client(OPTIONS, page);
  let answer: (a: { status: number; retryAfter: number; body: null }) => void = () => {};
  page.post = async (url, body) => {
    page.posts.push({ url, events: JSON.parse(body) });
    return new Promise((resolve) => (answer = resolve)); // answered after the page is gone
  };
  const inFlight = client.track("share", { featureId: "d0" });
  await page.advance(1000);
  const queued = client.track("share", { featureId: "d1" });
  page.isHidden = true;
  page.fire("d", "visibilitychange");
  page.fire("w", "pagehide");
  assert.deepEqual(page.beacons.flatMap((b) => b.events.map((e) => e.event_id)), [queued]);
  const next = page.navigate("https://shop.example/other");
  new Client(OPTIONS, next);
  await next.advance(5000);
  assert.deepEqual(next.posts, [], "nothing left over: in flight by keepalive, the rest by beacon");
  answer({ status: 200, retryAfter: 0, body: null });
  assert.equal(page.posts[0].events[0].event_id, inFlight);
});
