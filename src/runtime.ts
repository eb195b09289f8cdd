// What every service needs, built once at start by buildApp() and shared by all requests.
import type { Authenticator } from "./auth/authenticate.ts";
import type { JwtVerifier } from "./auth/jwt.ts";
import type { Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { Database } from "./db/database.ts";
import type { PrismaClient } from "./db/generated/client.ts";
import type { AppPubSub } from "./pubsub.ts";

export interface Runtime {
  config: Config;
  db: Database;
  prisma: PrismaClient;
  pubsub: AppPubSub;
  clock: Clock;
  jwt: JwtVerifier;
  authenticator: Authenticator;
}
