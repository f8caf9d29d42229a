// The client scenario every language runs against a live gateway, written as a user would, against the
// installed package. Run: GATEWAY_TARGET=127.0.0.1:50051 GATEWAY_WORKSPACE=WS... node --test (after tsc).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createGatewayClient,
  createGatewayTransport,
  errorDetails,
  openWhenSubscribed,
} from "@taskrouter-gateway/client";
import { EventService, StreamEventsRequestSchema } from "@taskrouter-gateway/client/v1/event_service_pb";
import type { StreamedEvent } from "@taskrouter-gateway/client/v1/event_service_pb";
import { WorkerService } from "@taskrouter-gateway/client/v1/worker_service_pb";

const target = process.env.GATEWAY_TARGET;
const ws = process.env.GATEWAY_WORKSPACE;

async function rejection(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  assert.fail("the call succeeded");
}

const level = (e: StreamedEvent): number => JSON.parse(e.event?.worker?.workerAttributes ?? "{}").level;

test("scenario against a live gateway", async () => {
  assert.ok(target && ws, "set GATEWAY_TARGET and GATEWAY_WORKSPACE");
  const transport = createGatewayTransport({ address: target });
  const workers = createGatewayClient(WorkerService, transport);
  const events = createGatewayClient(EventService, transport);
  const tag = randomUUID().slice(0, 12);
  const opts = { timeoutMs: 10_000 };

  // 1. create; 2. list by TargetWorkersExpression.
  const alice = await workers.createWorker(
    { workspaceSid: ws, friendlyName: `ts-${tag}`, attributes: JSON.stringify({ tag, level: 1 }) }, opts);
  const page = await workers.listWorkers({ workspaceSid: ws, targetWorkersExpression: `tag == '${tag}'` }, opts);
  assert.deepEqual(page.workers.map((w) => w.sid), [alice.sid]);

  // 3. update with the etag just read.
  const updated = await workers.updateWorker(
    { workspaceSid: ws, sid: alice.sid, attributes: JSON.stringify({ tag, level: 2 }), etag: alice.etag }, opts);
  assert.ok(updated.etag && updated.etag !== alice.etag);

  // 4. a stale etag: ABORTED, with Twilio's code in the ErrorInfo.
  const stale = await rejection(
    workers.updateWorker({ workspaceSid: ws, sid: alice.sid, attributes: "{}", etag: alice.etag }, opts));
  assert.equal(stale.code, Code.Aborted);
  assert.equal(errorDetails(stale).errorInfo?.metadata["twilio_code"], "20412");

  // 5. a bad name: INVALID_ARGUMENT with a BadRequest naming the field.
  const bad = await rejection(workers.createWorker({ workspaceSid: ws, friendlyName: "x".repeat(65) }, opts));
  assert.equal(bad.code, Code.InvalidArgument);
  assert.deepEqual(errorDetails(bad).badRequest?.fieldViolations.map((v) => v.field), ["friendly_name"]);

  // 6. stream worker.* events: wait until subscribed, change the worker, read one event, disconnect.
  const request = create(StreamEventsRequestSchema, {
    workspaceSid: ws, eventTypes: ["worker.*"], workerSid: alice.sid,
  });
  const first = new AbortController();
  const stream = await openWhenSubscribed((o) => events.streamEvents(request, o), { signal: first.signal });
  for (const n of [3, 4]) {
    await workers.updateWorker({ workspaceSid: ws, sid: alice.sid, attributes: JSON.stringify({ tag, level: n }) }, opts);
  }
  // Events committed after the headers, in order. Callbacks reach the gateway asynchronously, so the
  // worker's earlier events (created, level 2) may still arrive first: they come before level 3.
  let firstEvent: StreamedEvent | undefined;
  while (!firstEvent) {
    const next = await stream.next();
    assert.ok(!next.done, "the stream ended");
    firstEvent = next.value.events.find((e) => level(e) >= 3);
  }
  first.abort();
  assert.equal(firstEvent.event?.worker?.workerSid, alice.sid);
  assert.equal(level(firstEvent), 3);

  // Resume after the last cursor: the next events, with no gap and no duplicate.
  await workers.updateWorker({ workspaceSid: ws, sid: alice.sid, attributes: JSON.stringify({ tag, level: 5 }) }, opts);
  const second = new AbortController();
  const got: StreamedEvent[] = [];
  const resumed = events.streamEvents({ ...request, startPosition: { case: "afterCursor", value: firstEvent.cursor } },
    { signal: second.signal });
  for await (const message of resumed) {
    got.push(...message.events);
    if (got.length >= 2) break;
  }
  second.abort();
  assert.deepEqual(got.slice(0, 2).map(level), [4, 5]);
  assert.ok(!got.some((e) => e.cursor === firstEvent.cursor));
  transport.close();
});
