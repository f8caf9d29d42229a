// The gateway's API from the browser: Connect clients over connect-web's fetch transport, to the page's own
// origin, with the operator's bearer token (kept in session storage only) on every call.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { EventService } from "../../clients/typescript/src/gen/taskrouter/gateway/v1/event_service_pb.js";
import { StatisticsService } from "../../clients/typescript/src/gen/taskrouter/gateway/v1/statistics_service_pb.js";
import { TaskQueueService } from "../../clients/typescript/src/gen/taskrouter/gateway/v1/task_queue_service_pb.js";
import { WorkerService } from "../../clients/typescript/src/gen/taskrouter/gateway/v1/worker_service_pb.js";
import { WorkspaceService } from "../../clients/typescript/src/gen/taskrouter/gateway/v1/workspace_service_pb.js";

const TOKEN_KEY = "taskrouter-gateway-token";

export function savedToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function saveToken(token: string): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

const bearer: Interceptor = (next) => (request) => {
  const token = savedToken();
  if (token) request.header.set("authorization", `Bearer ${token}`);
  return next(request);
};

export interface Api {
  events: Client<typeof EventService>;
  workers: Client<typeof WorkerService>;
  workspaces: Client<typeof WorkspaceService>;
  queues: Client<typeof TaskQueueService>;
  statistics: Client<typeof StatisticsService>;
}

export function createApi(baseUrl: string): Api {
  const transport = createConnectTransport({ baseUrl, interceptors: [bearer] });
  return {
    events: createClient(EventService, transport),
    workers: createClient(WorkerService, transport),
    workspaces: createClient(WorkspaceService, transport),
    queues: createClient(TaskQueueService, transport),
    statistics: createClient(StatisticsService, transport),
  };
}
