// The operators' console: pick a workspace, follow its events, see its workers (kept current by events)
// and its queues' real-time statistics. Everything goes through the gateway's Connect port, same origin.
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Event } from "../../clients/typescript/src/gen/taskrouter/gateway/v1/event_pb.js";
import type { Worker } from "../../clients/typescript/src/gen/taskrouter/gateway/v1/worker_pb.js";
import { createApi, savedToken, saveToken, type Api } from "./api.js";
import { Tail, type TailState } from "./tail.js";

const MAX_EVENTS = 500;
const QUEUE_REFRESH_MS = 5000;
const WORKSPACE_KEY = "taskrouter-gateway-workspace";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLParagraphElement>("status");
const workspaceSelect = $<HTMLSelectElement>("workspace");
const eventsList = $<HTMLOListElement>("events");
const workersBody = $<HTMLTableElement>("workers").tBodies[0];
const queuesBody = $<HTMLTableElement>("queues").tBodies[0];
const createButton = $<HTMLButtonElement>("create-worker-button");
const writeNote = $<HTMLSpanElement>("write-note");

const api: Api = createApi(location.origin);
let tail: Tail | undefined;
let workspaceSid = "";
let queueTimer: number | undefined;
let filterTypes: string[] = [];
let filterResource = "";

function setStatus(state: string, text: string): void {
  status.dataset.state = state;
  status.textContent = text;
}

function showTail(state: TailState): void {
  switch (state.kind) {
    case "connecting": return setStatus("connecting", "Connecting…");
    case "live": return setStatus("live", "Live");
    case "disconnected":
      return setStatus("disconnected", `Disconnected (${state.reason}); reconnecting in ${(state.retryInMs / 1000).toFixed(1)} s`);
    case "refused": return setStatus("refused", `Token refused: ${state.reason}`);
  }
}

function refused(err: unknown): string | undefined {
  const error = ConnectError.from(err);
  return error.code === Code.Unauthenticated || error.code === Code.PermissionDenied ? error.rawMessage : undefined;
}

function cell(row: HTMLTableRowElement, text: string, className = ""): void {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
}

// -- events -------------------------------------------------------------------------------------------

function matches(event: Event): boolean {
  if (filterTypes.length && !filterTypes.includes(event.eventType)) return false;
  return !filterResource || event.resourceSid === filterResource;
}

function renderEvent(event: Event): void {
  const item = document.createElement("li");
  item.dataset.type = event.eventType;
  item.dataset.resource = event.resourceSid;
  item.dataset.sid = event.sid;
  item.hidden = !matches(event);
  const when = document.createElement("time");
  const date = event.eventDate ? timestampDate(event.eventDate) : new Date();
  when.dateTime = date.toISOString();
  when.textContent = date.toLocaleTimeString();
  const type = document.createElement("span");
  type.className = "type";
  type.textContent = event.eventType;
  const sid = document.createElement("span");
  sid.className = "sid";
  sid.textContent = event.resourceSid;
  item.append(when, type, sid);
  eventsList.prepend(item);
  while (eventsList.children.length > MAX_EVENTS) eventsList.lastElementChild?.remove();
}

function onEvent(event: Event): void {
  renderEvent(event);
  if (event.eventType.startsWith("worker.")) void refreshWorker(event.resourceSid, event.eventType === "worker.deleted");
  if (event.eventType.startsWith("task") || event.eventType.startsWith("reservation.")) scheduleQueues(500);
}

function applyFilters(): void {
  filterTypes = $<HTMLInputElement>("filter-types").value.split(",").map((s) => s.trim()).filter(Boolean);
  filterResource = $<HTMLInputElement>("filter-resource").value.trim();
  for (const item of Array.from(eventsList.children) as HTMLLIElement[]) {
    item.hidden = (filterTypes.length > 0 && !filterTypes.includes(item.dataset.type ?? ""))
      || (filterResource !== "" && item.dataset.resource !== filterResource);
  }
}

// -- workers ------------------------------------------------------------------------------------------

function workerRow(worker: Worker): HTMLTableRowElement {
  const row = document.createElement("tr");
  row.dataset.sid = worker.sid;
  cell(row, worker.friendlyName);
  cell(row, worker.activityName);
  cell(row, worker.available ? "yes" : "no");
  cell(row, worker.sid, "sid");
  return row;
}

function upsertWorker(worker: Worker): void {
  const row = workerRow(worker);
  const existing = workersBody.querySelector(`tr[data-sid="${worker.sid}"]`);
  if (existing) existing.replaceWith(row);
  else workersBody.append(row);
}

async function loadWorkers(): Promise<void> {
  const reply = await api.workers.listWorkers({ workspaceSid, pageSize: 200 });
  workersBody.replaceChildren(...reply.workers.map(workerRow));
}

async function refreshWorker(sid: string, deleted: boolean): Promise<void> {
  if (deleted) {
    workersBody.querySelector(`tr[data-sid="${sid}"]`)?.remove();
    return;
  }
  try {
    upsertWorker(await api.workers.getWorker({ workspaceSid, sid }));
  } catch (err) {
    if (ConnectError.from(err).code === Code.NotFound) workersBody.querySelector(`tr[data-sid="${sid}"]`)?.remove();
  }
}

// Whether this token may write: a CreateWorker with no name is refused for its scope before it is checked as
// a request, so PERMISSION_DENIED means "no write scope" and INVALID_ARGUMENT means "allowed"; nothing is made.
async function probeWrite(): Promise<void> {
  createButton.disabled = true;
  try {
    await api.workers.createWorker({ workspaceSid });
  } catch (err) {
    const error = ConnectError.from(err);
    const allowed = error.code === Code.InvalidArgument;
    createButton.disabled = !allowed;
    writeNote.textContent = allowed ? "" : error.code === Code.PermissionDenied
      ? "This token may not write (no 'write' scope for this workspace)." : `Writes unavailable: ${error.rawMessage}`;
  }
}

async function createWorker(): Promise<void> {
  const input = $<HTMLInputElement>("worker-name");
  const name = input.value.trim();
  if (!name || createButton.disabled) return; // disabled: this token may not write
  createButton.disabled = true;
  try {
    upsertWorker(await api.workers.createWorker({ workspaceSid, friendlyName: name }));
    input.value = "";
    writeNote.textContent = "";
  } catch (err) {
    writeNote.textContent = `Not created: ${ConnectError.from(err).rawMessage}`;
  } finally {
    createButton.disabled = false;
    await probeWrite();
  }
}

// -- queues -------------------------------------------------------------------------------------------

async function loadQueues(): Promise<void> {
  const listed = await api.queues.listTaskQueues({ workspaceSid, pageSize: 50 });
  const names = new Map(listed.taskQueues.map((q) => [q.sid, q.friendlyName]));
  if (!names.size) {
    queuesBody.replaceChildren();
    return;
  }
  const stats = await api.statistics.batchGetTaskQueueRealTimeStatistics({ workspaceSid, taskQueueSids: [...names.keys()] });
  queuesBody.replaceChildren(...stats.taskQueueData.map((s) => {
    const row = document.createElement("tr");
    row.dataset.sid = s.taskQueueSid;
    cell(row, names.get(s.taskQueueSid) ?? s.taskQueueSid);
    cell(row, String(s.tasksByStatus?.pending ?? 0), "num");
    cell(row, String(s.tasksByStatus?.assigned ?? 0), "num");
    cell(row, String(s.totalAvailableWorkers), "num");
    cell(row, String(s.longestTaskWaitingAge), "num");
    return row;
  }));
}

function scheduleQueues(delayMs: number): void {
  window.clearTimeout(queueTimer);
  queueTimer = window.setTimeout(async () => {
    try {
      await loadQueues();
    } catch {
      // shown by the tail's status; tried again on the next tick
    }
    scheduleQueues(QUEUE_REFRESH_MS);
  }, delayMs);
}

// -- workspaces ---------------------------------------------------------------------------------------

async function selectWorkspace(sid: string): Promise<void> {
  tail?.stop();
  workspaceSid = sid;
  sessionStorage.setItem(WORKSPACE_KEY, sid);
  eventsList.replaceChildren();
  workersBody.replaceChildren();
  queuesBody.replaceChildren();
  tail = new Tail(api, sid, { state: showTail, event: onEvent });
  tail.start();
  try {
    await Promise.all([loadWorkers(), probeWrite()]);
  } catch (err) {
    const reason = refused(err);
    if (reason) setStatus("refused", `Token refused: ${reason}`);
  }
  scheduleQueues(0);
}

async function start(): Promise<void> {
  setStatus("connecting", "Connecting…");
  try {
    const reply = await api.workspaces.listWorkspaces({ pageSize: 100 });
    workspaceSelect.replaceChildren(...reply.workspaces.map((w) => new Option(`${w.friendlyName} (${w.sid})`, w.sid)));
  } catch (err) {
    const reason = refused(err);
    setStatus(reason ? "refused" : "disconnected",
      reason ? `Token refused: ${reason}` : `Cannot reach the gateway: ${ConnectError.from(err).rawMessage}`);
    return;
  }
  const wanted = new URLSearchParams(location.hash.slice(1)).get("workspace") ?? sessionStorage.getItem(WORKSPACE_KEY);
  if (wanted && [...workspaceSelect.options].some((o) => o.value === wanted)) workspaceSelect.value = wanted;
  if (workspaceSelect.value) await selectWorkspace(workspaceSelect.value);
}

$<HTMLInputElement>("token").value = savedToken();
$<HTMLFormElement>("settings").addEventListener("submit", (e) => {
  e.preventDefault();
  saveToken($<HTMLInputElement>("token").value.trim());
  tail?.stop();
  void start();
});
workspaceSelect.addEventListener("change", () => void selectWorkspace(workspaceSelect.value));
$<HTMLFormElement>("filters").addEventListener("submit", (e) => { e.preventDefault(); applyFilters(); });
$<HTMLFormElement>("create-worker").addEventListener("submit", (e) => { e.preventDefault(); void createWorker(); });
void start();
