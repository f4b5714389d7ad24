/** @interaction-pipeline/browser: one tracker per page, as functions, or `new Client(...)`.
 *
 * ```js
 * import * as interactions from "@interaction-pipeline/browser";
 * interactions.init({ endpoint: "https://events.example.com", key: "k-browser" });
 * const queryId = interactions.searched({ query: "earbuds", results: ["d1", "d2"], totalHits: 2 });
 * interactions.clicked({ featureId: "d2", position: 1, queryId });
 * ```
 */
import { Client, type Consent, type Options, type Search, type Target } from "./client";
import { browserEnv } from "./env";

export { Client } from "./client";
export type { Consent, Exploration, Meta, Options, Search, Target } from "./client";
export type { Answer, Env } from "./env";
export { browserEnv } from "./env";
export { hashUserId, uuid } from "./ids";
export { validate } from "./rules";
export { interaction as interactionModel, search as searchModel } from "./generated/schema";

let client: Client | undefined;

/** Start the page's tracker (again: returns the one already started). */
export function init(options: Options): Client {
  return (client ??= new Client(options, browserEnv()));
}

export const searched = (s: Search): string | undefined => client?.searched(s);
export const clicked = (t: Target): string | undefined => client?.clicked(t);
export const converted = (t: Target & { type?: "purchase" | "add_to_cart" }): string | undefined =>
  client?.converted(t);
export const feedback = (t: Target & { positive: boolean }): string | undefined =>
  client?.feedback(t);
export const track = (types: string | string[], t: Target): string | undefined =>
  client?.track(types, t);
export const identify = (userId: string): Promise<boolean> =>
  client ? client.identify(userId) : Promise.resolve(false);
export const consent = (state: Consent): void => client?.consent(state);
export const reset = (): void => client?.reset();
export const flush = (): Promise<void> => client?.flush() ?? Promise.resolve();
