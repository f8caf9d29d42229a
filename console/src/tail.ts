// The live event tail: one StreamEvents per workspace, resumed from the last cursor after any disconnect so
// nothing is missed or shown twice; the server's empty first message means "subscribed".
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Event } from "../../clients/typescript/src/gen/taskrouter/gateway/v1/event_pb.js";
import type { Api } from "./api.js";

export type TailState =
  | { kind: "connecting" }
  | { kind: "live" }
  | { kind: "disconnected"; reason: string; retryInMs: number }
  | { kind: "refused"; reason: string };

export interface TailHandlers {
  state(state: TailState): void;
  event(event: Event): void;
}

const HISTORY_MS = 15 * 60 * 1000; // a new tail starts with the last quarter hour
const MAX_RETRY_MS = 5000;

export class Tail {
  private readonly abort = new AbortController();
  private cursor = "";
  private readonly seen = new Set<string>();

  constructor(private readonly api: Api, private readonly workspaceSid: string, private readonly on: TailHandlers) {}

  start(): void {
    void this.run();
  }

  stop(): void {
    this.abort.abort();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let retryMs = 500;
    while (!signal.aborted) {
      this.on.state({ kind: "connecting" });
      try {
        const startPosition = this.cursor
          ? { case: "afterCursor" as const, value: this.cursor }
          : { case: "since" as const, value: timestampFromMs(Date.now() - HISTORY_MS) };
        for await (const reply of this.api.events.streamEvents({ workspaceSid: this.workspaceSid, startPosition }, { signal })) {
          this.on.state({ kind: "live" });
          retryMs = 500;
          for (const item of reply.events) {
            this.cursor = item.cursor;
            const event = item.event;
            if (!event || this.seen.has(event.sid)) continue;
            this.seen.add(event.sid);
            this.on.event(event);
          }
        }
        throw new ConnectError("the stream ended", Code.Unavailable);
      } catch (err) {
        if (signal.aborted) return;
        const error = ConnectError.from(err);
        if (error.code === Code.Unauthenticated || error.code === Code.PermissionDenied) {
          this.on.state({ kind: "refused", reason: error.rawMessage });
          return; // a new token starts a new tail
        }
        if (error.code === Code.OutOfRange) this.cursor = ""; // the cursor fell out of retention: start afresh
        this.on.state({ kind: "disconnected", reason: error.rawMessage || error.code.toString(), retryInMs: retryMs });
        await sleep(retryMs, signal);
        retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}
