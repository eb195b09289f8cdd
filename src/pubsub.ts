// One pubsub for the app: in-process, or through Redis so every server process delivers every event.
import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import { createPubSub, type PubSub } from "graphql-yoga";
import { Redis } from "ioredis";
import type { Events } from "./events.ts";

export type AppPubSub = PubSub<Events>;

export interface PubSubHandle {
  pubsub: AppPubSub;
  close(): Promise<void>;
}

export function createAppPubSub(redisUrl: string | null): PubSubHandle {
  if (!redisUrl) return { pubsub: createPubSub<Events>(), close: async () => {} };
  const publishClient = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const subscribeClient = new Redis(redisUrl, { maxRetriesPerRequest: null });
  for (const client of [publishClient, subscribeClient]) {
    client.on("error", (error) => console.error("Redis error:", error.message));
  }
  const eventTarget = createRedisEventTarget({ publishClient, subscribeClient });
  return {
    pubsub: createPubSub<Events>({ eventTarget }),
    async close() {
      await Promise.allSettled([publishClient.quit(), subscribeClient.quit()]);
    },
  };
}

type Publication = { [K in keyof Events]: [K, ...Events[K]] }[keyof Events];

/** Events collected inside a transaction and published only after it commits. */
export class PendingEvents {
  readonly #items: Publication[] = [];
  add<K extends keyof Events>(name: K, ...args: Events[K]): void {
    this.#items.push([name, ...args] as unknown as Publication);
  }
  publish(pubsub: AppPubSub): void {
    for (const [name, ...args] of this.#items) {
      (pubsub.publish as (name: string, ...args: unknown[]) => void)(name, ...args);
    }
    this.#items.length = 0;
  }
}
