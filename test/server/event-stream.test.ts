// A subscription's event stream: what is attached to it (the limit's release, the gauge, the credential watch) ends
// exactly once however the stream ends, and a credential's end is the last event. The server tests reach the common
// ends (a client leaves, a token expires); these reach the rest: a source that fails, an execution that fails.
import { type ExecutionResult, GraphQLError } from "graphql";
import { describe, expect, it } from "vitest";
import { EventStream, eventStreamOf } from "../../src/server/subscription-events.ts";

/** A source whose events are pushed by the test, and which records whether it was told to stop. */
function source() {
  const pending: { resolve: (step: IteratorResult<number>) => void; reject: (error: unknown) => void }[] = [];
  const state = { returned: 0 };
  const iterator: AsyncIterator<number> = {
    next: () => new Promise((resolve, reject) => pending.push({ resolve, reject })),
    return: async () => {
      state.returned += 1;
      return { value: undefined, done: true };
    },
  };
  return {
    iterator,
    state,
    push: (value: number) => pending.shift()!.resolve({ value, done: false }),
    finish: () => pending.shift()!.resolve({ value: undefined, done: true }),
    fail: (error: unknown) => pending.shift()!.reject(error),
  };
}

const asResult = (event: unknown) => ({ data: { event } });

function counted(stream: EventStream) {
  const ends = { count: 0 };
  stream.onEnd(() => {
    ends.count += 1;
  });
  return ends;
}

/** A stream over a new source, with its ends counted. */
function started(execute: (event: unknown) => ExecutionResult | Promise<ExecutionResult> = asResult) {
  const events = source();
  const stream = new EventStream(events.iterator, execute);
  return { events, stream, ends: counted(stream) };
}

describe("event stream", () => {
  it("executes each event and ends once when the source finishes", async () => {
    const { events, stream, ends } = started();
    const first = stream.next();
    events.push(1);
    expect(await first).toEqual({ value: { data: { event: 1 } }, done: false });
    const second = stream.next();
    events.finish();
    expect(await second).toEqual({ value: undefined, done: true });
    expect(await stream.next()).toEqual({ value: undefined, done: true });
    await stream.return();
    expect(ends.count).toBe(1);
  });

  it("answers a waiting pull with done when the client leaves, and stops the source", async () => {
    const { events, stream, ends } = started();
    const waiting = stream.next();
    await stream.return();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(events.state.returned).toBe(1);
    expect(ends.count).toBe(1);
    // Attached after the end: called at once.
    const late = counted(stream);
    expect(late.count).toBe(1);
  });

  it("ends once when the source fails, and passes its error on", async () => {
    const { events, stream, ends } = started();
    const waiting = stream.next();
    events.fail(new Error("source broke"));
    await expect(waiting).rejects.toThrow("source broke");
    expect(ends.count).toBe(1);
    expect(await stream.next()).toEqual({ value: undefined, done: true });
  });

  it("ends once when an event's execution fails, whether it throws or rejects", async () => {
    for (const execute of [
      () => {
        throw new Error("execution broke");
      },
      () => Promise.reject(new Error("execution broke")),
    ]) {
      const { events, stream, ends } = started(execute);
      const waiting = stream.next();
      events.push(1);
      await expect(waiting).rejects.toThrow("execution broke");
      expect(ends.count).toBe(1);
      expect(events.state.returned).toBe(1);
    }
  });

  it("sends the watch's error as the last event, whether a pull waits or comes later", async () => {
    for (const pullFirst of [true, false]) {
      const { events, stream, ends } = started();
      let end: (error: GraphQLError) => void = () => {};
      let unwatched = 0;
      stream.endWhen((stop) => {
        end = stop;
        return () => {
          unwatched += 1;
        };
      });
      const expired = new GraphQLError("The access token expired.", { extensions: { code: "UNAUTHENTICATED" } });
      const waiting = pullFirst ? stream.next() : null;
      end(expired);
      end(expired);
      const last = await (waiting ?? stream.next());
      expect(last.done).toBe(false);
      expect(last.value).toEqual({ errors: [expired] });
      expect(await stream.next()).toEqual({ value: undefined, done: true });
      expect(ends.count).toBe(1);
      expect(unwatched).toBe(1);
      expect(events.state.returned).toBe(1);
    }
  });

  it("ends with a watch that fires while it is being set up (a token expired already)", async () => {
    const { stream, ends } = started();
    const expired = new GraphQLError("The access token expired.", { extensions: { code: "UNAUTHENTICATED" } });
    let unwatched = 0;
    const waiting = stream.next();
    stream.endWhen((end) => {
      end(expired);
      return () => {
        unwatched += 1;
      };
    });
    expect(await waiting).toEqual({ value: { errors: [expired] }, done: false });
    expect(await stream.next()).toEqual({ value: undefined, done: true });
    expect(ends.count).toBe(1);
    expect(unwatched).toBe(1);
  });

  it("takes in a stream from elsewhere once, so what is attached still ends with it", async () => {
    const events = source();
    const foreign: AsyncIterable<unknown> = { [Symbol.asyncIterator]: () => events.iterator };
    let replaced: EventStream | null = null;
    const stream = eventStreamOf(foreign, (taken) => {
      replaced = taken;
    });
    expect(replaced).toBe(stream);
    expect(eventStreamOf(stream, () => expect.unreachable("an event stream is not taken in again"))).toBe(stream);
    const ends = counted(stream);
    const waiting = stream.next();
    events.push(7);
    expect(await waiting).toEqual({ value: 7, done: false });
    await stream.return();
    expect(ends.count).toBe(1);
  });
});
