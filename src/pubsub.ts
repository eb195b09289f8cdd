// One pubsub for the app: in-process, or through Redis so every server process delivers every event.
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import { createPubSub, type PubSub } from "graphql-yoga";
import { Redis } from "ioredis";
import type { Events } from "./events.ts";

export type AppPubSub = PubSub<Events> & {
  /**
   * Calls `handle` with each payload of `topic` as it is dispatched, until the returned function is called: for a
   * listener of the process's own (a live feed) that needs no stream. `subscribe` puts a Repeater between (some eight
   * promises a publication), which a feed delivering every charge's balance does not need. Use listen or listenTo.
   */
  on(topic: string, handle: (payload: unknown) => void): () => void;
};

export interface PubSubHandle {
  pubsub: AppPubSub;
  /** Listeners registered now (subscriptions, live feeds, cache evictions): a gauge that shows leaks. */
  listeners(): number;
  close(): Promise<void>;
}

/** The property that names the process a publication came from, added to each payload on its way through Redis. */
const ORIGIN = "@origin";

/** What a process's own publication parses to when Redis brings it back: dropped unread. */
const OWN_PUBLICATION = Symbol("own publication");

/**
 * The app's event target. Every listener is registered on an in-process target, where a publication reaches this
 * process's listeners at once, as it does without Redis. Through Redis come the other processes' publications: each
 * payload names the process it came from, and a process drops its own when Redis brings them back, before parsing
 * them. Of two processes' events, half skip a Redis round trip and a parse, and a process cut off from Redis still
 * serves its own. `deliveryGap` never leaves the process. Counts listeners for the gauge.
 */
class AppEventTarget implements EventTarget {
  readonly #local = new EventTarget();
  readonly #redis: EventTarget | null;
  /** Per topic with listeners: how many, and the one Redis callback that forwards the other processes' publications. */
  readonly #topics = new Map<string, { listeners: number; forward: (event: Event) => void }>();
  count = 0;
  constructor(redis: EventTarget | null) {
    this.#redis = redis;
    // Thousands of subscriptions listen to one topic (deliveryGap, a popular member's balance): Node's warning past 10
    // listeners would be noise; the gauge (count) is what shows a leak.
    setMaxListeners(0, this.#local);
  }
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: AddEventListenerOptions | boolean): void {
    if (!listener) return;
    this.count++;
    this.#local.addEventListener(type, listener, options);
    if (!this.#redis || type === "deliveryGap") return;
    const topic = this.#topics.get(type);
    if (topic) {
      topic.listeners++;
      return;
    }
    const forward = (event: Event) => {
      const { detail } = event as CustomEvent;
      if (detail !== OWN_PUBLICATION) this.#local.dispatchEvent(new CustomEvent(type, { detail }));
    };
    this.#topics.set(type, { listeners: 1, forward });
    this.#redis.addEventListener(type, forward);
  }
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: EventListenerOptions | boolean): void {
    if (!listener) return;
    this.count--;
    this.#local.removeEventListener(type, listener, options);
    const topic = this.#topics.get(type);
    if (!topic || --topic.listeners > 0) return;
    this.#topics.delete(type);
    this.#redis?.removeEventListener(type, topic.forward);
  }
  dispatchEvent(event: Event): boolean {
    this.#local.dispatchEvent(event);
    if (this.#redis && event.type !== "deliveryGap") this.#redis.dispatchEvent(event);
    return true;
  }
}

/**
 * Payloads (JSON objects, events.ts) as they travel through Redis: ORIGIN first, so that the process that sent one
 * knows it by its first characters.
 */
function originSerializer(origin: string) {
  const prefix = `{"${ORIGIN}":${JSON.stringify(origin)}`;
  return {
    stringify(detail: unknown): string {
      const json = JSON.stringify(detail);
      if (!json.startsWith("{")) throw new TypeError("Event payloads are JSON objects (events.ts).");
      return json === "{}" ? `${prefix}}` : `${prefix},${json.slice(1)}`;
    },
    parse(message: string): unknown {
      if (message.startsWith(prefix)) return OWN_PUBLICATION;
      const detail = JSON.parse(message) as Record<string, unknown>;
      delete detail[ORIGIN];
      return detail;
    },
  };
}

export function createAppPubSub(redisUrl: string | null): PubSubHandle {
  if (!redisUrl) {
    const target = new AppEventTarget(null);
    return { pubsub: appPubSub(target), listeners: () => target.count, close: async () => {} };
  }
  // Auto-pipelining writes the publications of one tick (a charge batch's balances) in one write to Redis.
  const publishClient = new Redis(redisUrl, { maxRetriesPerRequest: null, enableAutoPipelining: true });
  const subscribeClient = new Redis(redisUrl, { maxRetriesPerRequest: null });
  for (const client of [publishClient, subscribeClient]) {
    client.on("error", (error) => console.error("Redis error:", error.message));
  }
  // The Redis event target leaves a failed publication's promise unhandled (with auto-pipelining, one still queued
  // when the process closes Redis fails "Connection is closed"): each failure is reported here instead.
  let closing = false;
  const publishing = {
    publish: (channel: string, message: string) =>
      publishClient.publish(channel, message).catch((error: Error) => {
        if (!closing) console.error("Redis publish failed:", error.message);
        return 0;
      }),
  } as unknown as Redis;
  const target = new AppEventTarget(
    createRedisEventTarget({ publishClient: publishing, subscribeClient, serializer: originSerializer(randomUUID()) }) as EventTarget,
  );
  const pubsub = appPubSub(target);
  // Events published while this process was cut off from Redis never reach it. On every reconnect ioredis subscribes
  // again before 'ready' is seen here; the PING's answer comes after those subscriptions took effect, so live values
  // read after it miss nothing.
  let connected = false;
  subscribeClient.on("ready", () => {
    if (!connected) {
      connected = true;
      return;
    }
    subscribeClient.ping().then(
      () => pubsub.publish("deliveryGap", { at: new Date().toISOString() }),
      () => {},
    );
  });
  return {
    pubsub,
    listeners: () => target.count,
    async close() {
      // Publications queued for the next auto-pipelined write go out before QUIT.
      await new Promise((resolve) => setImmediate(resolve));
      closing = true;
      await Promise.allSettled([publishClient.quit(), subscribeClient.quit()]);
    },
  };
}

function appPubSub(target: EventTarget): AppPubSub {
  return Object.assign(createPubSub<Events>({ eventTarget: target }), {
    on(topic: string, handle: (payload: unknown) => void) {
      // An exception thrown by an EventTarget's listener would be rethrown as uncaught: reported here instead.
      const listener = (event: Event) => {
        try {
          handle((event as CustomEvent).detail);
        } catch (error) {
          console.error(`Listener of ${topic} failed:`, error);
        }
      };
      target.addEventListener(topic, listener);
      return () => target.removeEventListener(topic, listener);
    },
  });
}

/** Channels with a topic id (a member, an organisation): a payload goes to the listeners of its id. */
type TopicEvent = { [K in keyof Events]: Events[K] extends [string, unknown] ? K : never }[keyof Events];

/** Calls `handle` with each payload published on `name` for `id` (of every process) until the returned function is called. */
export function listenTo<K extends TopicEvent>(
  pubsub: AppPubSub,
  name: K,
  id: string,
  handle: (payload: Events[K][1]) => void,
): () => void {
  // The topic as yoga's createPubSub names it for publish(name, id, payload).
  return pubsub.on(`${name}:${id}`, handle as (payload: unknown) => void);
}

/** Channels without a topic id: their one payload goes to every listener. */
type ProcessWideEvent = { [K in keyof Events]: Events[K] extends [unknown] ? K : never }[keyof Events];

/**
 * Calls `handle` with every payload on `name` (of every process, through Redis when configured) until the returned
 * function is called; for the caches and loops that buildApp starts and stop() ends.
 */
export function listen<K extends ProcessWideEvent>(pubsub: AppPubSub, name: K, handle: (payload: Events[K][0]) => void): () => void {
  return pubsub.on(name, handle as (payload: unknown) => void);
}

type Publication = { [K in keyof Events]: [K, ...Events[K]] }[keyof Events];

/** Events collected inside a transaction and published only after it commits (ledger/tx.ts publishCommitted). */
export class PendingEvents {
  readonly #items: Publication[] = [];
  #deferred = false;
  add<K extends keyof Events>(name: K, ...args: Events[K]): void {
    this.#items.push([name, ...args] as unknown as Publication);
  }
  /**
   * Publish on the next turn of the event loop instead of at once: for changes with many events (a bulk
   * decision's thousand balances), so the caller's answer is not held up by their delivery.
   */
  defer(): void {
    this.#deferred = true;
  }
  get deferred(): boolean {
    return this.#deferred;
  }
  publish(pubsub: AppPubSub): void {
    for (const [name, ...args] of this.#items) {
      (pubsub.publish as (name: string, ...args: unknown[]) => void)(name, ...args);
    }
    this.#items.length = 0;
  }
}
